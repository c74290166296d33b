import Foundation

/// Words for the parse errors a malformed CTF gives, so IT staff read what is wrong rather
/// than "The operation could not be completed. (NSXMLParserErrorDomain error 76.)".
///
/// On Linux, FoundationXML passes libxml2's own error number as the error's code (its
/// `XMLParser.ErrorCode` cases are numbered differently, so they are not used); the numbers
/// are libxml2's `xmlParserErrors` (libxml/xmlerror.h).
enum ParseErrorWording {
    static func describe(_ error: any Error) -> String {
        let code = (error as NSError).code
        let words: String? = switch code {
        case 3, 4: "the file holds no XML document"
        case 5: "the file ends before the document does (is it truncated?)"
        case 9: "a character XML does not allow (a control character, or bytes that are not text in the file's encoding)"
        case 23: "an entity reference without its closing ';'"
        case 26: "a reference to an entity that is not declared (write & as &amp;)"
        case 38: "a '<' inside an attribute value"
        case 39, 41: "an attribute without a quoted value"
        case 42: "an attribute given twice"
        case 45: "a comment that is never closed"
        case 68: "a '<' or '&' that starts no name (write them as &lt; and &amp;)"
        case 72, 73, 74: "a tag that is not closed with '>'"
        case 76: "an end tag that does not match its start tag"
        case 77: "an element that is never closed (is the file truncated?)"
        case 85: "elements that are not properly nested"
        case 86: "content after the end of the root element"
        case 6003: "bytes that are not text in the declared encoding"
        default: nil
        }
        return (words ?? "the parser stopped") + " (libxml2 error \(code))"
    }
}
