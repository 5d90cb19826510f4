/// PostgreSQL array literals for text parameters, so that a batch of rows goes in one statement
/// (`unnest($n::bytea[])`) instead of one round trip per row.
public enum PostgresArrayLiteral {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A bytea[] literal: each element `"\\x<hex>"`.
    public static func bytea(_ values: [[UInt8]]) -> String {
        var literal: [UInt8] = [UInt8(ascii: "{")]
        literal.reserveCapacity(values.reduce(2) { $0 + $1.count * 2 + 6 })
        for (index, value) in values.enumerated() {
            if index > 0 { literal.append(UInt8(ascii: ",")) }
            literal.append(contentsOf: Array(#""\\x"#.utf8))
            for byte in value {
                literal.append(hexDigits[Int(byte >> 4)])
                literal.append(hexDigits[Int(byte & 0x0F)])
            }
            literal.append(UInt8(ascii: "\""))
        }
        literal.append(UInt8(ascii: "}"))
        return String(decoding: literal, as: UTF8.self)
    }

    /// A text[] literal: every element quoted, quotes and backslashes escaped; nil is NULL.
    public static func text(_ values: [String?]) -> String {
        "{" + values.map { value in
            guard let value else { return "NULL" }
            var quoted = "\""
            for character in value {
                if character == "\"" || character == "\\" { quoted.append("\\") }
                quoted.append(character)
            }
            return quoted + "\""
        }.joined(separator: ",") + "}"
    }
}
