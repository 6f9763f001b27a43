import Foundation

/// What the simulators share to serve daily bills (对账单) consistent with their order books.
///
/// A bill lists the orders whose payment (`paidAt`) falls on the requested China-time day. The
/// sandbox serves the current day as it stands (real vendors generate a day's bill the next
/// morning). Documented fault: any date in 2001 answers "bill not generated yet" in the vendor's
/// own words (storepos `trade_state=PROCESSING`, WeChat v2 `Bill Creating`, YunGouOS a refusal).
enum SandboxBills {
    /// `yyyy-MM-dd` in China time, or `nil` for anything else.
    static func day(_ text: String) -> String? {
        guard text.count == 10, SandboxWire.parseChinaTime(text, "yyyy-MM-dd") != nil else { return nil }
        return text
    }

    /// Whether the vendor would still be generating the bill of `day` (the documented 2001 fault, or a future day).
    static func isGenerating(_ day: String) -> Bool {
        day.hasPrefix("2001-") || day > SandboxWire.chinaTime(Date(), "yyyy-MM-dd")
    }

    /// Whether `date` falls on `day` (`yyyy-MM-dd`, China time).
    static func on(_ date: Date?, _ day: String) -> Bool {
        guard let date else { return false }
        return SandboxWire.chinaTime(date, "yyyy-MM-dd") == day
    }

    /// A value safe inside a comma-separated line (commas and line breaks would split it).
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: ",", with: "，").replacingOccurrences(of: "\r", with: " ")
            .replacingOccurrences(of: "\n", with: " ")
    }
}
