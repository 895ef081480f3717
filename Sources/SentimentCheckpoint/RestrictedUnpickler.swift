import Foundation

/// A pickle reader that only builds values and only knows the globals a PyTorch state dict needs.
///
/// Nothing is ever called or imported: `GLOBAL`/`STACK_GLOBAL` naming anything outside
/// `allowedGlobals` fails on the spot with `CheckpointError.forbiddenGlobal`, and `REDUCE` of an
/// allowed global only records "this function with these arguments" for `PyTorchCheckpoint` to
/// interpret. Opcodes that build arbitrary objects (`INST`, `OBJ`, `NEWOBJ`, `EXT*`, ...) are refused.
///
/// Values live in an arena (`nodes`) and refer to each other by index, so hostile nesting or
/// self-referencing containers cannot overflow the stack on teardown or leak through cycles.
struct RestrictedUnpickler {
    typealias NodeID = Int

    enum Global: Equatable {
        case orderedDict
        case rebuildTensorV2
        case rebuildParameter
        case rebuildParameterWithState
        case storage(DType)
        case dtype(DType)
    }

    enum Node {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes(Int)                       // only the length: a state dict never needs the content
        case tuple([NodeID])
        case list([NodeID])
        case dict([(key: NodeID, value: NodeID)])
        case global(Global, name: String)
        case persistent(NodeID)               // BINPERSID: the persistent id (torch: a 'storage' tuple)
        case reduced(Global, name: String, args: NodeID)

        var kind: String {
            switch self {
            case .none: return "None"
            case .bool: return "a bool"
            case .int: return "an int"
            case .float: return "a float"
            case .string: return "a string"
            case .bytes: return "bytes"
            case .tuple: return "a tuple"
            case .list: return "a list"
            case .dict: return "a dict"
            case let .global(_, name): return "the global \(name)"
            case .persistent: return "a persistent id"
            case let .reduced(_, name, _): return "a call of \(name)"
            }
        }
    }

    static let allowedGlobals: [String: Global] = {
        var g: [String: Global] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        ]
        let storages: [(String, DType)] = [
            ("Float", .f32), ("Half", .f16), ("BFloat16", .bf16), ("Double", .f64), ("Long", .i64),
            ("Int", .i32), ("Short", .i16), ("Char", .i8), ("Byte", .u8), ("Bool", .bool),
        ]
        for (prefix, dtype) in storages { g["torch.\(prefix)Storage"] = .storage(dtype) }
        let dtypes: [(String, DType)] = [
            ("float32", .f32), ("float", .f32), ("float16", .f16), ("half", .f16), ("bfloat16", .bf16),
            ("float64", .f64), ("double", .f64), ("int64", .i64), ("long", .i64), ("int32", .i32),
            ("int", .i32), ("int16", .i16), ("short", .i16), ("int8", .i8), ("uint8", .u8), ("bool", .bool),
        ]
        for (name, dtype) in dtypes { g["torch.\(name)"] = .dtype(dtype) }
        return g
    }()

    /// A state dict's pickle is a few hundred bytes per tensor; anything this large is not one.
    static let maxPickleSize = 64 << 20

    let path: String
    private(set) var nodes: [Node] = []
    private var stack: [NodeID] = []
    private var marks: [Int] = []
    private var memo: [Int: NodeID] = [:]
    private var pos = 0
    private var opcodeStart = 0

    init(path: String) { self.path = path }

    /// Reads one pickle and returns the id of its result.
    mutating func load(_ bytes: UnsafeRawBufferPointer) throws -> NodeID {
        guard bytes.count <= Self.maxPickleSize else {
            throw CheckpointError.malformedPickle(path: path, offset: 0, reason: "\(bytes.count) bytes is far too large for a state dict's pickle")
        }
        while true {
            opcodeStart = pos
            let op = try u8(bytes)
            switch op {
            case 0x80: // PROTO
                let v = try u8(bytes)
                guard (2...5).contains(v) else { throw malformed("pickle protocol \(v) is not supported") }
            case 0x95: // FRAME: an 8-byte length we do not need
                _ = try take(bytes, 8)
            case UInt8(ascii: "."): // STOP
                guard stack.count == 1, marks.isEmpty else { throw malformed("STOP with \(stack.count) values on the stack") }
                return stack[0]
            case UInt8(ascii: "("): marks.append(stack.count) // MARK
            case UInt8(ascii: "}"): push(.dict([])) // EMPTY_DICT
            case UInt8(ascii: "]"): push(.list([])) // EMPTY_LIST
            case UInt8(ascii: ")"): push(.tuple([])) // EMPTY_TUPLE
            case UInt8(ascii: "N"): push(.none)
            case 0x88: push(.bool(true))  // NEWTRUE
            case 0x89: push(.bool(false)) // NEWFALSE
            case UInt8(ascii: "X"): push(.string(try string(bytes, length: Int(try le(bytes, 4))))) // BINUNICODE
            case 0x8C: push(.string(try string(bytes, length: Int(try u8(bytes))))) // SHORT_BINUNICODE
            case 0x8D: push(.string(try string(bytes, length: try length64(bytes)))) // BINUNICODE8
            case UInt8(ascii: "C"): push(.bytes(try take(bytes, Int(try u8(bytes))).count)) // SHORT_BINBYTES
            case UInt8(ascii: "B"): push(.bytes(try take(bytes, Int(try le(bytes, 4))).count)) // BINBYTES
            case UInt8(ascii: "J"): push(.int(Int(Int32(bitPattern: UInt32(try le(bytes, 4)))))) // BININT
            case UInt8(ascii: "K"): push(.int(Int(try u8(bytes)))) // BININT1
            case UInt8(ascii: "M"): push(.int(Int(try le(bytes, 2)))) // BININT2
            case 0x8A: // LONG1: little-endian two's complement of n bytes
                let n = Int(try u8(bytes))
                guard n <= 8 else { throw malformed("integer of \(n) bytes is too large") }
                let raw = try take(bytes, n)
                var v: UInt64 = 0
                for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0, n < 8, raw[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }   // sign-extend
                push(.int(Int(Int64(bitPattern: v))))
            case UInt8(ascii: "G"): // BINFLOAT: big-endian double
                push(.float(Double(bitPattern: UInt64(bigEndian: try take(bytes, 8).loadUnaligned(as: UInt64.self)))))
            case UInt8(ascii: "q"): try put(Int(try u8(bytes)))       // BINPUT
            case UInt8(ascii: "r"): try put(Int(try le(bytes, 4)))    // LONG_BINPUT
            case 0x94: try put(memo.count)                            // MEMOIZE
            case UInt8(ascii: "h"): try get(Int(try u8(bytes)))       // BINGET
            case UInt8(ascii: "j"): try get(Int(try le(bytes, 4)))    // LONG_BINGET
            case UInt8(ascii: "0"): _ = try pop()                     // POP
            case UInt8(ascii: "1"): _ = try popMark()                 // POP_MARK
            case UInt8(ascii: "t"): push(.tuple(try popMark()))       // TUPLE
            case 0x85: let a = try pop(); push(.tuple([a]))            // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); push(.tuple([a, b]))             // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); push(.tuple([a, b, c])) // TUPLE3
            case UInt8(ascii: "a"): let v = try pop(); try append([v])                  // APPEND
            case UInt8(ascii: "e"): try append(try popMark())                           // APPENDS
            case UInt8(ascii: "s"): let v = try pop(), k = try pop(); try setItems([k, v]) // SETITEM
            case UInt8(ascii: "u"): try setItems(try popMark())                          // SETITEMS
            case UInt8(ascii: "c"): // GLOBAL: "module\nname\n"
                let module = try line(bytes), name = try line(bytes)
                push(try global(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                let nameID = try pop(), moduleID = try pop()
                guard case let .string(name) = nodes[nameID], case let .string(module) = nodes[moduleID] else {
                    throw malformed("STACK_GLOBAL needs two strings")
                }
                push(try global(module: module, name: name))
            case UInt8(ascii: "Q"): push(.persistent(try pop())) // BINPERSID
            case UInt8(ascii: "R"): try reduce()
            case UInt8(ascii: "b"): try build()
            default:
                throw CheckpointError.unsupportedOpcode(path: path, opcode: op, offset: opcodeStart)
            }
        }
    }

    // MARK: - Values

    private func malformed(_ reason: String) -> CheckpointError {
        .malformedPickle(path: path, offset: opcodeStart, reason: reason)
    }

    private mutating func push(_ node: Node) {
        nodes.append(node)
        stack.append(nodes.count - 1)
    }

    private mutating func pop() throws -> NodeID {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw malformed("stack underflow") }
        stack.removeLast()
        return top
    }

    private mutating func popMark() throws -> [NodeID] {
        guard let mark = marks.popLast() else { throw malformed("no MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func put(_ key: Int) throws {
        guard let top = stack.last else { throw malformed("memo store with an empty stack") }
        memo[key] = top
    }

    private mutating func get(_ key: Int) throws {
        guard let id = memo[key] else { throw malformed("memo key \(key) was never stored") }
        stack.append(id)
    }

    private mutating func append(_ items: [NodeID]) throws {
        let target = try pop()
        guard case var .list(list) = nodes[target] else { throw malformed("APPEND to \(nodes[target].kind)") }
        nodes[target] = .none   // drop the arena's reference so the append does not copy the array
        list.append(contentsOf: items)
        nodes[target] = .list(list)
        stack.append(target)
    }

    private mutating func setItems(_ items: [NodeID]) throws {
        guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of values") }
        let target = try pop()
        guard case var .dict(pairs) = nodes[target] else { throw malformed("SETITEM on \(nodes[target].kind)") }
        nodes[target] = .none   // as in append(_:): no copy per item
        for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
        nodes[target] = .dict(pairs)
        stack.append(target)
    }

    private func global(module: String, name: String) throws -> Node {
        let full = "\(module).\(name)"
        guard let g = Self.allowedGlobals[full] else { throw CheckpointError.forbiddenGlobal(path: path, global: full) }
        return .global(g, name: full)
    }

    /// REDUCE: `callable(*args)`. Only an empty `OrderedDict()` is built here; the tensor rebuild
    /// functions are recorded with their arguments and interpreted later.
    private mutating func reduce() throws {
        let args = try pop(), callable = try pop()
        guard case let .tuple(argItems) = nodes[args] else { throw malformed("REDUCE arguments are \(nodes[args].kind), not a tuple") }
        guard case let .global(g, name) = nodes[callable] else { throw malformed("REDUCE of \(nodes[callable].kind)") }
        switch g {
        case .orderedDict:
            guard argItems.isEmpty else { throw malformed("OrderedDict called with arguments") }
            push(.dict([]))
        case .rebuildTensorV2, .rebuildParameter, .rebuildParameterWithState:
            push(.reduced(g, name: name, args: args))
        case .storage, .dtype:
            throw malformed("\(name) is not callable in a state dict")
        }
    }

    /// BUILD sets an object's state. A state dict's only use is `OrderedDict._metadata`, which we do
    /// not need; anything else is refused.
    private mutating func build() throws {
        _ = try pop()
        let target = try pop()
        guard case .dict = nodes[target] else { throw malformed("BUILD on \(nodes[target].kind)") }
        stack.append(target)
    }

    // MARK: - Bytes

    private mutating func u8(_ bytes: UnsafeRawBufferPointer) throws -> UInt8 {
        guard pos < bytes.count else { throw malformed("unexpected end of pickle") }
        defer { pos += 1 }
        return bytes[pos]
    }

    private mutating func take(_ bytes: UnsafeRawBufferPointer, _ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else { throw malformed("unexpected end of pickle (wanted \(n) bytes)") }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }

    private mutating func le(_ bytes: UnsafeRawBufferPointer, _ n: Int) throws -> UInt64 {
        let raw = try take(bytes, n)
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(raw[i]) << (8 * UInt64(i)) }
        return v
    }

    private mutating func length64(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        let v = try le(bytes, 8)
        guard v <= UInt64(bytes.count) else { throw malformed("length \(v) runs past the end of the pickle") }
        return Int(v)
    }

    private mutating func string(_ bytes: UnsafeRawBufferPointer, length: Int) throws -> String {
        let raw = try take(bytes, length)
        guard let s = String(bytes: raw, encoding: .utf8) else { throw malformed("string is not valid UTF-8") }
        return s
    }

    /// A GLOBAL operand: ASCII up to a newline, at most 256 bytes.
    private mutating func line(_ bytes: UnsafeRawBufferPointer) throws -> String {
        let start = pos
        while pos < bytes.count, bytes[pos] != 0x0A {
            pos += 1
            if pos - start > 256 { throw malformed("GLOBAL name longer than 256 bytes") }
        }
        guard pos < bytes.count else { throw malformed("unterminated GLOBAL name") }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<pos])
        pos += 1
        guard let s = String(bytes: raw, encoding: .utf8) else { throw malformed("GLOBAL name is not valid UTF-8") }
        return s
    }
}
