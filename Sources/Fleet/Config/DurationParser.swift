import Foundation

/// Parses the durations of settings: `2h`, `30m`, `45s`, `500ms`, combinations like `1h30m`, and a
/// bare number meaning seconds.
public enum DurationParser {
    /// The duration, or `nil` when `text` is not one.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { return nil }
        if let seconds = Int64(trimmed), seconds >= 0 { return .seconds(seconds) }
        var total = Duration.zero
        var number = ""
        var unit = ""
        var sawAny = false
        func flush() -> Bool {
            guard let value = Int64(number), value >= 0, !unit.isEmpty else { return false }
            switch unit {
            case "ms": total += .milliseconds(value)
            case "s": total += .seconds(value)
            case "m": total += .seconds(value * 60)
            case "h": total += .seconds(value * 3600)
            case "d": total += .seconds(value * 86_400)
            default: return false
            }
            number = ""
            unit = ""
            sawAny = true
            return true
        }
        for character in trimmed {
            if character.isASCII, character.isNumber {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else if character.isASCII, character.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(character)
            } else {
                return nil
            }
        }
        guard flush(), sawAny else { return nil }
        return total
    }
}
