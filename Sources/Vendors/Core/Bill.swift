import Foundation

/// A channel whose vendor publishes a daily bill (对账单) PayFleet can download. `payfleet
/// reconcile` reconciles only through channels that conform; any other channel cannot be
/// reconciled (exit 2 with the reason).
public protocol BillingChannel: PaymentChannel {
    /// Downloads and parses the merchant's bill of one China-time day.
    ///
    /// - Throws: ``BillError/notAvailable(_:)`` when the vendor says the bill is not generated yet
    ///   (ask again later), ``BillError/vendor(_:)`` for every other failure (transport, refusal,
    ///   a bill that does not parse or whose digest does not match).
    func downloadBill(date: BillDate) async throws(BillError) -> VendorBill
}

/// One day in China time (GMT+8), the unit of every vendor bill.
public struct BillDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Parses `yyyy-MM-dd` (a real calendar day); `nil` otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            ChinaTime.parse(text, "yyyy-MM-dd") != nil
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The China-time day `date` falls on.
    public init(containing date: Date) {
        // Always a valid day: the text comes from the formatter.
        self.init(ChinaTime.format(date, "yyyy-MM-dd"))!
    }

    /// `yyyy-MM-dd`.
    public var description: String { text(separator: "-") }
    /// `yyyyMMdd` (WeChat v2 `bill_date`).
    public var compact: String { text(separator: "") }

    func text(separator: String) -> String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(year, 4) + separator + pad(month, 2) + separator + pad(day, 2)
    }

    /// 00:00 China time of the day.
    public var start: Date { ChinaTime.parse(description, "yyyy-MM-dd")! }
    /// 00:00 China time of the next day (China has no daylight saving time).
    public var end: Date { start.addingTimeInterval(86_400) }

    /// Whether `date` falls on this China-time day.
    public func contains(_ date: Date) -> Bool { date >= start && date < end }

    /// The day before.
    public var previous: BillDate { BillDate(containing: start.addingTimeInterval(-43_200)) }

    public static func < (lhs: BillDate, rhs: BillDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }
}

/// One line of a vendor bill, reduced to what reconciliation compares. Money is integer fen.
public struct VendorBillRow: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// A payment: ``VendorBillRow/amount`` is what the order was paid.
        case paid
        /// A refund: ``VendorBillRow/amount`` is what was refunded.
        case refunded
        /// A payment the vendor reversed (storepos 撤单): ``VendorBillRow/amount`` is the order amount.
        case revoked
    }

    public var status: Status
    public var outTradeNo: String
    /// The vendor's transaction id of the payment, when the bill lists one.
    public var transactionID: String?
    public var amount: Money
    /// The merchant's refund number (`out_refund_no`), when the bill lists one.
    public var outRefundNo: String?
    /// When the payment (or refund) happened, when the bill says.
    public var time: Date?
    /// The vendor's own status word, for people.
    public var vendorStatus: String

    public init(
        status: Status, outTradeNo: String, transactionID: String? = nil, amount: Money, outRefundNo: String? = nil,
        time: Date? = nil, vendorStatus: String
    ) {
        self.status = status
        self.outTradeNo = outTradeNo
        self.transactionID = transactionID
        self.amount = amount
        self.outRefundNo = outRefundNo
        self.time = time
        self.vendorStatus = vendorStatus
    }
}

/// A merchant's bill of one day as the vendor lists it.
public struct VendorBill: Sendable, Hashable {
    public var channel: ChannelID
    public var date: BillDate
    public var rows: [VendorBillRow]

    public init(channel: ChannelID, date: BillDate, rows: [VendorBillRow]) {
        self.channel = channel
        self.date = date
        self.rows = rows
    }
}

/// Why a bill could not be had.
public enum BillError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The vendor has not generated the bill yet (WeChat "Bill Creating" / `STATEMENT_CREATING`,
    /// storepos `trade_state=PROCESSING`, a day that has not ended): try again later.
    case notAvailable(String)
    /// The download failed or the bill could not be read.
    case vendor(ChannelError)

    public var description: String {
        switch self {
        case .notAvailable(let reason): "bill not available yet: \(reason)"
        case .vendor(let error): "bill download failed: \(error)"
        }
    }

    /// A bill that did not parse.
    public static func malformed(_ message: String) -> BillError { .vendor(.badResponse(message)) }
}

/// Reading bill files: the CSV dialect the vendors share (comma-separated, one record a line,
/// values that may carry a leading backtick so spreadsheets keep them as text).
public enum BillText {
    /// The lines of a bill file, without line ends (`\r\n` or `\n`) and without blank lines. A
    /// UTF-8 byte-order mark is dropped.
    public static func lines(_ file: [UInt8]) throws(BillError) -> [String] {
        var bytes = file[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .malformed("bill is not UTF-8 text")
        }
        return text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map(String.init)
            .filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// The fields of one line: split on commas, each with one leading backtick removed and
    /// surrounding spaces trimmed. Quoted fields (`"a,b"`) keep their commas.
    public static func fields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            switch character {
            case "\"" where quoted:
                quoted = false
            case "\"" where current.allSatisfy(\.isWhitespace) || current == "`":
                quoted = true
            case "," where !quoted:
                fields.append(clean(current))
                current = ""
            default:
                current.append(character)
            }
        }
        fields.append(clean(current))
        return fields
    }

    static func clean(_ field: String) -> String {
        var value = Substring(field.trimmingCharacters(in: .whitespaces))
        if value.hasPrefix("`") { value = value.dropFirst() }
        // storepos writes its `mch_id` as `00000001` with a closing backtick too.
        if value.hasSuffix("`") { value = value.dropLast() }
        return value.trimmingCharacters(in: .whitespaces)
    }

    /// A table read by its header: each row's value by column name.
    public struct Table: Sendable {
        public var header: [String]
        public var rows: [[String]]

        public init(header: [String], rows: [[String]] = []) {
            self.header = header
            self.rows = rows
        }

        /// The column index of the first header among `names`; `nil` when the file has none of them.
        public func column(_ names: String...) -> Int? {
            for name in names { if let index = header.firstIndex(of: name) { return index } }
            return nil
        }

        /// The column index of `names`, or a malformed-bill error naming the first.
        public func requiredColumn(_ names: String...) throws(BillError) -> Int {
            for name in names { if let index = header.firstIndex(of: name) { return index } }
            throw .malformed("bill has no column \(names.first ?? "")")
        }
    }

    /// An amount in yuan from a bill cell (exact, as ``Money/init(yuan:)``); an empty cell is an error.
    public static func yuan(_ text: String, column: String, line: Int) throws(BillError) -> Money {
        do throws(MoneyError) {
            return try Money(yuan: text)
        } catch {
            throw .malformed("bill line \(line): \(column) '\(text.prefix(20))' is not a yuan amount")
        }
    }

    /// A yuan amount that may be empty or `0` (optional refund columns): `nil` when empty.
    public static func optionalYuan(_ text: String, column: String, line: Int) throws(BillError) -> Money? {
        text.isEmpty ? nil : try yuan(text, column: column, line: line)
    }

    /// `yyyy-MM-dd HH:mm:ss` China time; `nil` when empty or unreadable (time is informative only).
    public static func time(_ text: String) -> Date? {
        text.isEmpty ? nil : ChinaTime.parse(text, "yyyy-MM-dd HH:mm:ss")
    }
}
