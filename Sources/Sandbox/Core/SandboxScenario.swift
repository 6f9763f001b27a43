/// Deterministic faults, chosen by the order amount so a test or a person can ask for one with
/// nothing but the order itself. The last two digits of the total amount in fen select it;
/// every other amount behaves normally.
///
/// | amount ends in | scenario |
/// |---|---|
/// | `…01` fen (e.g. 1.01 yuan) | `pending`: create answers NEED_QUERY / USERPAYING / PAY_IN_PROCESS; the order becomes paid after it has been queried twice |
/// | `…02` | `vendorError`: create answers the vendor's system error (WeChat SYSTEMERROR, 5xx, code 20006 …) |
/// | `…03` | `timeout`: create is recorded but the answer comes only after the client has given up (``SandboxConfiguration/slowAnswer``) |
/// | `…04` | `neverPaid`: autopay never pays it, so it can only end closed |
/// | `…05` | `duplicateCallback`: the paid callback is sent twice |
/// | `…06` | `forgedCallback`: a callback with a wrong signature is sent first, then nothing; the order is really paid (a query finds it) |
/// | `…07` | `amountMismatch`: the callback is correctly signed but reports 1 fen more than was paid; the order is really paid at the right amount |
/// | `…08` | `refused`: create is refused with a business error (the order fails) |
/// | `…09` | `garbage`: create answers a body that is not the vendor's format |
/// | `…10` | `badResponseSignature`: create answers correctly but with a wrong response signature |
/// | `…11` | `subOrderAmountMismatch` (WeChat combine): the notification is correctly signed and its total is right, but 1 fen moved from the first sub-order to the second; the order is really paid as created |
/// | `…12` | `subOrderMerchantMismatch` (WeChat combine): the notification is correctly signed but names another `mchid` for the last sub-order; the order is really paid as created |
public enum SandboxScenario: String, Sendable, Hashable, CaseIterable {
    case normal
    case pending
    case vendorError
    case timeout
    case neverPaid
    case duplicateCallback
    case forgedCallback
    case amountMismatch
    case refused
    case garbage
    case badResponseSignature
    case subOrderAmountMismatch
    case subOrderMerchantMismatch

    /// The scenario an amount (in fen) selects.
    public init(amountFen: Int64) {
        switch amountFen % 100 {
        case 1: self = .pending
        case 2: self = .vendorError
        case 3: self = .timeout
        case 4: self = .neverPaid
        case 5: self = .duplicateCallback
        case 6: self = .forgedCallback
        case 7: self = .amountMismatch
        case 8: self = .refused
        case 9: self = .garbage
        case 10: self = .badResponseSignature
        case 11: self = .subOrderAmountMismatch
        case 12: self = .subOrderMerchantMismatch
        default: self = .normal
        }
    }
}
