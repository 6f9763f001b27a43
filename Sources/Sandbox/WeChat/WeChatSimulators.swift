extension VendorSandbox {
    /// The WeChat Pay v2 and APIv3 combine simulators.
    ///
    /// The combine simulator generates its platform identity (certificate and public key) here;
    /// if RSA key generation fails the v3 simulator is left out and the failure is logged.
    static func wechatSimulators(context: SandboxContext) -> [any VendorSimulator] {
        var simulators: [any VendorSimulator] = [WeChatV2Simulator(context: context)]
        do {
            simulators.append(WeChatCombineSimulator(context: context, keys: try WeChatPlatformKeys.generate()))
        } catch {
            context.logger.error("sandbox: cannot generate the WeChat platform keys; wechat-v3-combine is not simulated", metadata: [
                "error": "\(error)",
            ])
        }
        return simulators
    }
}
