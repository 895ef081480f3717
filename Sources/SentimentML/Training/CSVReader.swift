/// RFC 4180 CSV over UTF-8 bytes: records end at CRLF or LF, fields are separated by commas, a field that
/// starts with `"` is quoted (it may hold commas, line breaks and `""` for one quote). A quote inside an
/// unquoted field is kept literally (as Python's csv module does); anything but a comma or a line break
/// after a closing quote is an error, as is a quote left open at the end of the file.
/// Blank lines are skipped. Each record carries the 1-based line on which it starts.
struct CSVReader {
    struct Record: Equatable {
        var line: Int
        var fields: [String]
    }

    enum Failure: Error, Equatable {
        /// A quoted field opened on `line` never closes.
        case unterminatedQuote(line: Int)
        /// Text follows a closing quote on `line`.
        case textAfterClosingQuote(line: Int)
    }

    static func records(_ bytes: [UInt8]) throws -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(0x0A), cr = UInt8(0x0D)
        var out: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var i = 0
        let n = bytes.count
        // Whether the current record has anything in it yet (to skip blank lines).
        var recordStarted = false

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            if recordStarted { out.append(Record(line: recordLine, fields: fields)) }
            fields.removeAll(keepingCapacity: true)
            recordStarted = false
        }

        while i < n {
            let c = bytes[i]
            if !recordStarted {
                // A record begins: a blank line (LF or CRLF alone) is skipped.
                if c == lf { line += 1; i += 1; continue }
                if c == cr && i + 1 < n && bytes[i + 1] == lf { line += 1; i += 2; continue }
                recordStarted = true
                recordLine = line
            }
            if field.isEmpty && c == quote && atFieldStart(fields: fields, bytes: bytes, i: i) {
                // Quoted field.
                let openLine = line
                i += 1
                var closed = false
                while i < n {
                    let d = bytes[i]
                    if d == quote {
                        if i + 1 < n && bytes[i + 1] == quote {
                            field.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    if d == lf { line += 1 }
                    field.append(d)
                    i += 1
                }
                if !closed { throw Failure.unterminatedQuote(line: openLine) }
                // Only a separator, a line break or the end may follow.
                if i < n {
                    let d = bytes[i]
                    if d == comma {
                        endField()
                        i += 1
                        if i == n { endRecord() }   // "a",  at EOF: a last empty field
                    } else if d == lf {
                        endRecord(); line += 1; i += 1
                    } else if d == cr && i + 1 < n && bytes[i + 1] == lf {
                        endRecord(); line += 1; i += 2
                    } else {
                        throw Failure.textAfterClosingQuote(line: line)
                    }
                } else {
                    endRecord()
                }
                continue
            }
            if c == comma {
                endField()
                i += 1
                if i == n { endRecord() }
            } else if c == lf {
                endRecord(); line += 1; i += 1
            } else if c == cr && i + 1 < n && bytes[i + 1] == lf {
                endRecord(); line += 1; i += 2
            } else {
                field.append(c)
                i += 1
                if i == n { endRecord() }
            }
        }
        return out
    }

    /// A quote opens a quoted field only as the first byte of the field.
    private static func atFieldStart(fields: [String], bytes: [UInt8], i: Int) -> Bool {
        i == 0 || bytes[i - 1] == UInt8(ascii: ",") || bytes[i - 1] == 0x0A
    }
}
