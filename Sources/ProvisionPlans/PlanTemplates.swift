/// Starting points for a new plan, one per broad area of need of the SEND Code of Practice:
/// wording a SENCO edits rather than a blank page. Targets here have no dates (the person
/// writing the plan sets them) and no linked test.
public struct PlanTemplate: Sendable, Equatable {
    /// How the console names it in a link.
    public let id: String
    /// Its title.
    public let title: String
    /// Needs, in words to adapt.
    public let needs: String
    /// Strategies for class teachers.
    public let strategies: String
    /// Target wordings, with how each is measured.
    public let targets: [(description: String, measuredBy: String)]

    public static func == (lhs: PlanTemplate, rhs: PlanTemplate) -> Bool { lhs.id == rhs.id }

    /// The shipped templates.
    public static let all: [PlanTemplate] = [
        PlanTemplate(
            id: "reading", title: "Reading (cognition and learning)",
            needs: "Decoding and blending unfamiliar words; reading fluently enough to follow a text.",
            strategies: "Pre-teach key vocabulary; give texts at an accessible level; short daily reading with an adult; check understanding with questions.",
            targets: [("Read a book at the right level aloud with few errors", "reading record"),
                      ("Blend and read words with four or more sounds", "phonics check")]),
        PlanTemplate(
            id: "communication", title: "Speech, language and communication",
            needs: "Understanding longer instructions; finding words to explain ideas.",
            strategies: "Give one instruction at a time with a visual prompt; allow thinking time; model full sentences; use a word mat.",
            targets: [("Follow a two-step instruction in class", "class teacher's observation"),
                      ("Use a full sentence to ask for help", "speech and language notes")]),
        PlanTemplate(
            id: "emotional", title: "Social, emotional and mental health",
            needs: "Managing strong feelings; joining in with others at unstructured times.",
            strategies: "A quiet space and a signal to use it; a named adult to check in with each morning; warn of changes to routine.",
            targets: [("Use the agreed signal to ask for a break", "behaviour log"),
                      ("Join a structured game at lunchtime", "lunchtime staff's notes")]),
        PlanTemplate(
            id: "physical", title: "Sensory and/or physical",
            needs: "Fine motor control for writing; tiring during long tasks.",
            strategies: "Sloped board and pencil grip; movement breaks; accept typed or shorter written work where the aim allows.",
            targets: [("Write three sentences legibly with the agreed aids", "samples of work"),
                      ("Manage own equipment at the start of a lesson", "teaching assistant's notes")]),
    ]
}
