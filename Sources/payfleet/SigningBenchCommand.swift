import ArgumentParser
import Crypto
import Foundation
import Payments
import StorePOS
import WeChatPay

/// `payfleet bench signing`: the cost of the parameter signatures every order pays three times (the
/// create request, its answer, the callback), next to the digest of the same bytes alone.
struct SigningBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing",
        abstract:
            "Parameter signing (storepos, WeChat v2 MD5 and HMAC-SHA256) against the bare digest of the same bytes.",
        discussion: """
            Signs a storepos preorder (12 parameters, case-insensitive order) and a WeChat v2 payment \
            notification (17 parameters, byte order) with each vendor's own signing code, and verifies the \
            notification as a callback is verified. The baseline row digests the same canonical string \
            plus key, already joined, so the ratio is what collecting, sorting and joining the \
            parameters costs on top of the digest. Figures are ns per signature, best of --rounds.
            """
    )

    @Option(help: "Signatures per round and row.")
    var iterations: Int = 200_000

    @Option(help: "Rounds per row; the best round is reported.")
    var rounds: Int = 5

    func run() async throws {
        guard iterations > 0, rounds > 0 else { throw ValidationError("counts must be positive") }
        #if DEBUG
        print("build: DEBUG (figures are not representative; use swift build -c release)")
        #else
        print("build: release")
        #endif
        let key = Secret("8934e7d15453e97507ef794cf7b0519d")
        let preorder: [String: String] = [
            "service": "pay.weixin.native", "version": "2.0", "charset": "UTF-8", "sign_type": "MD5",
            "mch_id": "755437000006", "out_trade_no": "PF20261203115500000001", "body": "门店收银 订单",
            "total_fee": "12345", "mch_create_ip": "127.0.0.1", "notify_url": "https://pay.example.com/notify/storepos",
            "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "time_expire": "20261203123000",
        ]
        let notification: [String: String] = [
            "appid": "wx2421b1c4370ec43b", "attach": "支付测试", "bank_type": "CFT", "fee_type": "CNY",
            "is_subscribe": "Y", "mch_id": "10000100", "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
            "openid": "oUpF8uMEb4qRXf22hE3X68TekukE", "out_trade_no": "1409811653", "result_code": "SUCCESS",
            "return_code": "SUCCESS", "sign": "B552ED6B279343CB493C5DD0D78AB241", "time_end": "20140903131540",
            "total_fee": "1", "coupon_fee": "10", "coupon_count": "1", "trade_type": "JSAPI",
            "transaction_id": "1004400740201409030005092168",
        ]
        var signedNotification = notification
        signedNotification["sign"] = WeChatV2SignType.hmacSHA256.sign(notification, key: key)
        let storeposString = Array(StorePOSSigning.rule.stringToSign(preorder, key: key).utf8)
        let wechatString = Array(WeChatV2SignType.md5.rule.stringToSign(notification, key: key).utf8)
        let keyBytes = SymmetricKey(data: Array(key.reveal().utf8))

        print("\nrow                                           ns/signature   × its digest alone")
        let storeposDigest = best { Hex.encode(Insecure.MD5.hash(data: storeposString), uppercase: true) }
        let wechatDigest = best { Hex.encode(Insecure.MD5.hash(data: wechatString), uppercase: true) }
        let wechatHMAC = best {
            Hex.encode(HMAC<SHA256>.authenticationCode(for: wechatString, using: keyBytes), uppercase: true)
        }
        row("MD5 of the joined storepos preorder (baseline)", storeposDigest, storeposDigest)
        row("storepos preorder sign", best { StorePOSSigning.sign(preorder, key: key) }, storeposDigest)
        row("MD5 of the joined WeChat v2 notify (baseline)", wechatDigest, wechatDigest)
        row("WeChat v2 notify sign (MD5)", best { WeChatV2SignType.md5.sign(notification, key: key) }, wechatDigest)
        row("HMAC-SHA256 of the joined notify (baseline)", wechatHMAC, wechatHMAC)
        row(
            "WeChat v2 notify verify (HMAC-SHA256)",
            best { WeChatV2SignType.hmacSHA256.verify(signedNotification, key: key) ? "" : "x" },
            wechatHMAC)
    }

    /// The best round's ns per call; each result's length is summed so the calls cannot be dropped.
    private func best(_ body: () -> String) -> Double {
        let clock = ContinuousClock()
        var bestSeconds = Double.infinity
        var sink = 0
        for _ in 0..<rounds {
            let started = clock.now
            for _ in 0..<iterations { sink &+= body().utf8.count }
            bestSeconds = min(bestSeconds, RestoreBenchCommand.seconds(clock.now - started))
        }
        if sink == -1 { print("unreachable") }
        return bestSeconds * 1e9 / Double(iterations)
    }

    private func row(_ name: String, _ nanoseconds: Double, _ baseline: Double) {
        print(
            name.padding(toLength: 46, withPad: " ", startingAt: 0)
                + String(format: "%12.0f   %8.2f", nanoseconds, nanoseconds / baseline))
    }
}
