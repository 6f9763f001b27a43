import Crypto
import Foundation
import Payments
import Testing
import _CryptoExtras

@testable import WeChatPay

@Suite struct WeChatV3CryptoTests {
    // MARK: AEAD_AES_256_GCM

    /// wechatpay-java core/src/test/java/com/wechat/pay/java/core/cipher/AeadAesCipherTest.java (API_V3_KEY from
    /// core/src/test/java/com/wechat/pay/java/core/model/TestConfig.java), github.com/wechatpay-apiv3/wechatpay-java.
    static let javaKey = Secret("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb")

    @Test func officialJavaSDKVector() throws {
        let plain = try WeChatV3Crypto.decrypt(
            apiV3Key: Self.javaKey, nonce: "uluk4a9R25RW", associatedData: "associatedData",
            ciphertextBase64: "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
        )
        #expect(String(decoding: plain, as: UTF8.self) == "message")
        let sealed = try WeChatV3Crypto.encrypt(
            apiV3Key: Self.javaKey, nonce: "uluk4a9R25RW", associatedData: "associatedData",
            plaintext: Array("message".utf8)
        )
        #expect(sealed == "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=")
    }

    /// The `/v3/certificates` answer of wechatpay-java's TestConfig.DOWNLOAD_CERTIFICATE_RESPONSE: decrypting it with
    /// the APIv3 key gives a certificate whose serial is 5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC.
    @Test func officialJavaSDKCertificateDownload() throws {
        let pem = try WeChatV3Crypto.decrypt(
            apiV3Key: Self.javaKey, nonce: "14b16c03dc1b", associatedData: "certificate",
            ciphertextBase64: JavaSDKCertificateVector.ciphertext
        )
        let certificate = try WeChatPlatformCertificate(pem: String(decoding: pem, as: UTF8.self))
        #expect(certificate.serial == "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC")
        #expect(certificate.notValidAfter > Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func everyBadCiphertextIsATypedError() {
        let cases: [(Secret, String, String, String)] = [
            // one byte short: tag broken
            (Self.javaKey, "uluk4a9R25RW", "associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzw=="),
            (Self.javaKey, "uluk4a9R25RW", "associatedData", "dWx3U2lJ"),  // shorter than the tag
            (Self.javaKey, "uluk4a9R25RW", "associatedData", "not base64!"),
            (Self.javaKey, "uluk4a9R25RW", "otherData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="),  // wrong AAD
            (Self.javaKey, "uluk4a9R25RX", "associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="),  // wrong nonce
            (Self.javaKey, "short", "associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="),
            (
                Secret("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gc"), "uluk4a9R25RW", "associatedData",
                "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
            ),
            (
                Secret("testAPIv3Key0000"), "wCq51qZv4Yfg", "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            ),  // 16-byte key: AES-128, refused
        ]
        for (key, nonce, aad, ciphertext) in cases {
            #expect(throws: WeChatV3Crypto.Failure.self) {
                try WeChatV3Crypto.decrypt(
                    apiV3Key: key, nonce: nonce, associatedData: aad, ciphertextBase64: ciphertext)
            }
        }
    }

    @Test func errorsNeverCarryTheKey() {
        do throws(WeChatV3Crypto.Failure) {
            _ = try WeChatV3Crypto.decrypt(
                apiV3Key: Self.javaKey, nonce: "uluk4a9R25RW", associatedData: "x",
                ciphertextBase64: "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=")
            Issue.record("decrypted with the wrong AAD")
        } catch {
            #expect(!error.description.contains(Self.javaKey.reveal()))
        }
    }

    // MARK: SHA256withRSA

    /// wechatpay-go utils/sign_test.go (github.com/wechatpay-apiv3/wechatpay-go): SignSHA256WithRSA("source") with its
    /// PKCS#8 test key. PKCS#1 v1.5 is deterministic, so the signature is a known answer.
    @Test func officialGoSDKSignatureVector() throws {
        let key = try WeChatV3Crypto.privateKey(pem: Secret(GoSDKKeyVector.pkcs8))
        let signature = try WeChatV3Crypto.sign(Array("source".utf8), with: key)
        #expect(signature == GoSDKKeyVector.signatureOfSource)
        #expect(WeChatV3Crypto.verify(signature, of: Array("source".utf8), with: key.publicKey))
        #expect(!WeChatV3Crypto.verify(signature, of: Array("sourcf".utf8), with: key.publicKey))
        #expect(!WeChatV3Crypto.verify("not base64", of: Array("source".utf8), with: key.publicKey))

        // The same key as PKCS#1 (`BEGIN RSA PRIVATE KEY`) signs identically.
        let pkcs1 = key.pemRepresentation
        #expect(pkcs1.contains("BEGIN RSA PRIVATE KEY"))
        let again = try WeChatV3Crypto.privateKey(pem: Secret(pkcs1))
        #expect(try WeChatV3Crypto.sign(Array("source".utf8), with: again) == GoSDKKeyVector.signatureOfSource)
        // And its public key in SPKI PEM verifies.
        let publicKey = try WeChatV3Crypto.publicKey(pem: key.publicKey.pemRepresentation)
        #expect(WeChatV3Crypto.verify(signature, of: Array("source".utf8), with: publicKey))
    }

    @Test func badKeysAreTypedErrors() {
        #expect(throws: WeChatV3Crypto.Failure.self) {
            try WeChatV3Crypto.privateKey(pem: Secret("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"))
        }
        #expect(throws: WeChatV3Crypto.Failure.self) { try WeChatV3Crypto.privateKey(pem: Secret("")) }
        #expect(throws: WeChatV3Crypto.Failure.self) { try WeChatV3Crypto.publicKey(pem: "garbage") }
        #expect(throws: WeChatV3Crypto.Failure.self) {
            try WeChatPlatformCertificate(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
        }
    }

    // MARK: Authorization and response verification

    @Test func signingMessageIsByteExactWithTheTrailingLineFeed() throws {
        let message = WeChatV3Credential.message(
            method: "POST", canonicalURL: "/v3/combine-transactions/native", timestamp: 1_554_208_460,
            nonce: "593BEC0C930BF1AFEB40B4A08C8FB242", body: Array("{\"a\":1}".utf8)
        )
        #expect(
            String(decoding: message, as: UTF8.self)
                == "POST\n/v3/combine-transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"a\":1}\n")
        let get = WeChatV3Credential.message(
            method: "GET", canonicalURL: "/v3/bill/tradebill?bill_date=2026-11-21&bill_type=ALL", timestamp: 1,
            nonce: "N", body: [])
        #expect(
            String(decoding: get, as: UTF8.self)
                == "GET\n/v3/bill/tradebill?bill_date=2026-11-21&bill_type=ALL\n1\nN\n\n")
        #expect(
            WeChatV3Credential.canonicalURL(of: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc#x")
                == "/v3/billdownload/file?token=abc")
        #expect(WeChatV3Credential.canonicalURL(of: "http://127.0.0.1:80") == "/")

        let key = try WeChatV3Crypto.privateKey(pem: Secret(GoSDKKeyVector.pkcs8))
        let credential = WeChatV3Credential(mchID: "1900000109", serialNumber: "SERIAL", privateKey: key)
        let header = try credential.authorization(
            method: "GET", canonicalURL: "/v3/certificates", body: [], timestamp: 1, nonce: "N")
        #expect(
            header.hasPrefix(
                "WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\",nonce_str=\"N\",timestamp=\"1\",serial_no=\"SERIAL\",signature=\""
            ))
        let signature = String(header.split(separator: "signature=\"")[1].dropLast())
        #expect(
            WeChatV3Crypto.verify(signature, of: Array("GET\n/v3/certificates\n1\nN\n\n".utf8), with: key.publicKey))
    }

    @Test func responseVerificationChecksWindowSerialAndSignature() throws {
        let key = try WeChatV3Crypto.privateKey(pem: Secret(GoSDKKeyVector.pkcs8))
        let body = Array("{\"code_url\":\"weixin://x\"}".utf8)
        let timestamp: Int64 = 1_700_000_000
        let message = Array("\(timestamp)\nNONCE\n".utf8) + body + [0x0A]
        let headers = [
            "Wechatpay-Serial": "PUB_KEY_ID_1", "Wechatpay-Signature": try WeChatV3Crypto.sign(message, with: key),
            "Wechatpay-Timestamp": "\(timestamp)", "Wechatpay-Nonce": "NONCE",
        ]
        let signed = try WeChatV3SignatureVerifier.SignedHeaders(headers: headers)
        let verifier = WeChatV3SignatureVerifier()
        let now = Date(timeIntervalSince1970: TimeInterval(timestamp))
        try verifier.verify(signed, body: body, key: key.publicKey, now: now)
        try verifier.verify(signed, body: body, key: key.publicKey, now: now.addingTimeInterval(299))
        try verifier.verify(signed, body: body, key: key.publicKey, now: now.addingTimeInterval(-299))

        func failure(
            _ body: [UInt8], _ key: _RSA.Signing.PublicKey?, _ now: Date
        ) -> WeChatV3SignatureVerifier.Failure.Kind? {
            do throws(WeChatV3SignatureVerifier.Failure) {
                try verifier.verify(signed, body: body, key: key, now: now)
                return nil
            } catch {
                return error.kind
            }
        }
        #expect(failure(body, key.publicKey, now.addingTimeInterval(300)) == .staleTimestamp)
        #expect(failure(body, key.publicKey, now.addingTimeInterval(-301)) == .staleTimestamp)
        #expect(failure(body, nil, now) == .unknownSerial)
        #expect(failure(body + [0x20], key.publicKey, now) == .badSignature)
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        #expect(failure(body, other.publicKey, now) == .badSignature)
        #expect(throws: WeChatV3SignatureVerifier.Failure.self) {
            try WeChatV3SignatureVerifier.SignedHeaders(headers: ["Wechatpay-Serial": "x", "Wechatpay-Nonce": "n"])
        }
    }
}

enum GoSDKKeyVector {
    /// wechatpay-go utils/sign_test.go `testAlgorithmPrivateKeyStr` (a published test key; "TESTING KEY" → "PRIVATE KEY").
    static let pkcs8 = """
        -----BEGIN PRIVATE KEY-----
        MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
        fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
        6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
        FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
        0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
        3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
        LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
        OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
        C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
        0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
        +cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
        gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
        AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
        hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
        6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
        WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
        D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
        aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
        ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
        YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
        BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
        EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
        Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
        +RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
        jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
        BDa+8mDLkWu5nHEhOxy2JJZl
        -----END PRIVATE KEY-----
        """
    static let signatureOfSource =
        "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoV"
        + "z+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLl"
        + "i/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj"
        + "1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
}
