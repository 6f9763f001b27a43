import Payments
import Testing

@Suite struct MoneyTests {
    @Test(arguments: [
        ("99.00", 9900), ("99", 9900), ("99.5", 9950), ("0.01", 1), ("999999.00", 99_999_900), ("15.8", 1580),
    ])
    func parsesYuan(text: String, fen: Int64) throws {
        #expect(try Money(yuan: text).fen == fen)
    }

    @Test(arguments: ["0.001", "1e3", "-1", "99.999", "", ".5", "5.", "1,000", " 1", "1 ", "+1", "0x10", "１"])
    func rejectsMalformedYuan(text: String) {
        #expect(throws: MoneyError.self) { try Money(yuan: text) }
    }

    @Test(arguments: [(9900, "99.00"), (1, "0.01"), (10, "0.10"), (0, "0.00"), (123_456, "1234.56")])
    func formatsYuanExactly(fen: Int64, text: String) throws {
        let money = Money(fen: fen)
        #expect(money.yuanString == text)
        #expect(try Money(yuan: money.yuanString) == money)
    }
}
