/// Synthetic names and national proportions. No real pupil data is ever in this repository.
enum Names {
    static let forenames = [
        "Amara", "Ben", "Chloé", "Daniel", "Ella", "Finn", "Grace", "Harry", "Isla", "Jacob", "Kiera", "Leo",
        "Maya", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sami", "Theo", "Uma", "Vince", "Willow", "Yusuf",
        "Zara", "Aoife", "Bartosz", "Chidi", "Dev", "Emre", "Fatima", "Gustav", "Hana", "Idris", "Jonas", "Kai",
        "Lena", "Mateo", "Nia", "Oskar", "Renée", "Siân", "Tomás", "Zoë",
    ]
    static let surnames = [
        "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
        "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
        "Khan", "Ahmed", "Nowak", "Okafor", "O'Neill", "Murphy", "Kowalski", "Singh", "Hughes", "Edwards",
        "Müller", "Lefèvre", "García", "Byrne", "Ali", "Begum", "Chen", "Novak", "Price",
    ]

    /// Primary need of pupils on SEN support, roughly in national proportions.
    static let supportNeeds: [(String, Double)] = [
        ("SLCN", 24), ("SEMH", 20), ("MLD", 17), ("SPLD", 14), ("ASD", 8), ("OTH", 5), ("NSA", 4), ("PD", 3),
        ("HI", 2), ("VI", 1), ("SLD", 1), ("MSI", 0.5), ("PMLD", 0.5),
    ]
    /// Primary need of pupils with an EHC plan, roughly in national proportions.
    static let ehcpNeeds: [(String, Double)] = [
        ("ASD", 33), ("SLCN", 20), ("SEMH", 15), ("SLD", 9), ("MLD", 8), ("PD", 5), ("SPLD", 3), ("PMLD", 2),
        ("HI", 2), ("OTH", 2), ("VI", 1),
    ]

    static let places = [
        "Fenland", "Marsh Lane", "Willow Brook", "Ely Road", "Riverside", "Abbey Fields", "Northgate", "Cherry Hinton",
        "Wicken", "Oakfield", "St Ives", "Littleport",
    ]

    static func school(_ index: Int, secondary: Bool) -> String {
        let place = places[index % places.count] + (index >= places.count ? " \(index / places.count + 1)" : "")
        return secondary ? "\(place) Academy" : "\(place) Primary"
    }

    static func slug(_ text: String) -> String {
        var slug = ""
        for character in text.lowercased() {
            if character.isLetter && character.isASCII || character.isNumber {
                slug.append(character)
            } else if !slug.isEmpty && !slug.hasSuffix("-") {
                slug.append("-")
            }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        return slug
    }
}
