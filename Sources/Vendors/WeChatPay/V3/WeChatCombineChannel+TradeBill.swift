import Crypto
import Foundation
import Payments
import Zlib

/// Which trades a trade bill lists.
public enum WeChatTradeBillType: String, Sendable, Hashable, CaseIterable {
    case all = "ALL"
    case success = "SUCCESS"
    case refund = "REFUND"
}

/// The answer to a trade bill application: where to download it and the SHA1 of the decompressed file.
public struct WeChatTradeBillTicket: Sendable, Hashable {
    public var hashType: String
    public var hashValue: String
    public var downloadURL: String
}

extension WeChatCombineChannel {
    /// Applies for the trade bill of `date` (`yyyy-MM-dd`, China time): `GET /v3/bill/tradebill`.
    public func applyTradeBill(
        date: String, type: WeChatTradeBillType = .all, gzip: Bool = true
    ) async throws(ChannelError) -> WeChatTradeBillTicket {
        guard ChinaTime.parse(date, "yyyy-MM-dd") != nil else {
            throw .invalidRequest("bill_date must be yyyy-MM-dd")
        }
        var path = "/v3/bill/tradebill?bill_date=\(date)&bill_type=\(type.rawValue)"
        if gzip { path += "&tar_type=GZIP" }
        let response = try await call(method: "GET", path: path, body: [])
        guard response.status == 200 else {
            let failure = vendorError(response)
            if response.status >= 500 {
                throw ChannelError(.vendorUnavailable, "trade bill: \(failure.message)", vendorCode: failure.code)
            }
            try rethrowTransportLike(response, failure, operation: "trade bill")
            throw ChannelError(.vendorRejected, "trade bill refused: \(failure.message)", vendorCode: failure.code)
        }
        let ticket: WeChatCombine.BillTicket
        do throws(WeChatCombine.AnswerError) {
            ticket = try WeChatCombine.decodeAnswer(WeChatCombine.BillTicket.self, response.body)
        } catch {
            throw .badResponse("trade bill answer: \(error)")
        }
        guard ticket.download_url.hasPrefix("http://") || ticket.download_url.hasPrefix("https://") else {
            throw .badResponse("trade bill answer: field download_url is not an http(s) URL")
        }
        guard ticket.hash_type.uppercased() == "SHA1" else {
            throw .badResponse("trade bill hash_type \(ticket.hash_type.prefix(16)) is not SHA1")
        }
        return WeChatTradeBillTicket(
            hashType: ticket.hash_type, hashValue: ticket.hash_value, downloadURL: ticket.download_url)
    }

    /// Downloads the file a ticket names, un-gzips it when `gzip`, and checks its SHA1 against the
    /// ticket. The download answer is not signed by WeChat; the SHA1 from the signed ticket is
    /// what vouches for it, so a mismatch is ``ChannelError/Code/badResponse``.
    public func downloadTradeBill(
        _ ticket: WeChatTradeBillTicket, gzip: Bool = true
    ) async throws(ChannelError) -> [UInt8] {
        let transport = Transport(baseURLs: baseURLs, credential: credential, http: http, logger: logger, now: now)
        let response = try await transport.send(method: "GET", url: ticket.downloadURL, body: [])
        guard response.status == 200 else {
            throw ChannelError(
                response.status >= 500 ? .vendorUnavailable : .vendorRejected,
                "bill download answered HTTP \(response.status)")
        }
        let file: [UInt8]
        if gzip {
            do throws(Gzip.Failure) {
                file = try Gzip.decompress(response.body)
            } catch {
                throw .badResponse("bill download: \(error.description)")
            }
        } else {
            file = response.body
        }
        try Self.checkDigest(file, ticket: ticket)
        return file
    }

    /// Applies for and downloads the trade bill of `date`, verified against its SHA1.
    public func downloadTradeBill(
        date: String, type: WeChatTradeBillType = .all, gzip: Bool = true
    ) async throws(ChannelError) -> [UInt8] {
        let ticket = try await applyTradeBill(date: date, type: type, gzip: gzip)
        return try await downloadTradeBill(ticket, gzip: gzip)
    }

    /// Compares the SHA1 hex of the decompressed file with the ticket's (case-insensitive).
    static func checkDigest(_ file: [UInt8], ticket: WeChatTradeBillTicket) throws(ChannelError) {
        let digest = Hex.encode(Insecure.SHA1.hash(data: file), uppercase: false)
        guard ConstantTime.equals(digest, ticket.hashValue.lowercased()) else {
            throw ChannelError(
                .badResponse, "trade bill SHA1 does not match hash_value: the file is corrupt or incomplete",
                vendorCode: "HASH_MISMATCH")
        }
    }
}
