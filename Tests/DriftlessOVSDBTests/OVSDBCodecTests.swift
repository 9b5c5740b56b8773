import Foundation
import XCTest

@testable import DriftlessOVSDB

/// Atom, value, row, operation and schema encoding against RFC 7047's forms.
final class OVSDBCodecTests: XCTestCase {
    private let uuidText = "550e8400-e29b-41d4-a716-446655440000"
    private var uuid: UUID { UUID(uuidString: uuidText)! }

    private func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: text)
    }

    // MARK: JSON bridging

    func testFoundationBridgingKeepsBooleansIntegersAndRealsApart() throws {
        let value = try parse(#"[true, false, 1, 0, 1.5, -3, 9223372036854775807, "s", null]"#)
        XCTAssertEqual(
            value,
            .array([
                .bool(true), .bool(false), .integer(1), .integer(0), .real(1.5), .integer(-3),
                .integer(Int64.max), .string("s"), .null,
            ]))
        // And back: Foundation must write true/false, not 1/0.
        let text = JSONValue.array([.bool(true), .integer(1), .real(2.5), .string("a/b")]).jsonText
        XCTAssertEqual(text, #"[true,1,2.5,"a/b"]"#)
    }

    // MARK: Atoms (RFC 7047 §5.1)

    func testAtomsEncodeAndDecodeAsTheRFCSpellsThem() throws {
        let cases: [(OVSDBAtom, String)] = [
            (.integer(42), "42"),
            (.integer(-7), "-7"),
            (.real(1.5), "1.5"),
            (.boolean(true), "true"),
            (.boolean(false), "false"),
            (.string("br-int"), #""br-int""#),
            (.string(#"quote " and { brace"#), #""quote \" and { brace""#),
            (.uuid(uuid), #"["uuid","\#(uuidText)"]"#),
            (.namedUUID("row1"), #"["named-uuid","row1"]"#),
        ]
        for (atom, text) in cases {
            XCTAssertEqual(atom.json, try parse(text), "encoding \(atom)")
            XCTAssertEqual(try OVSDBAtom(json: parse(text)), atom, "decoding \(text)")
            XCTAssertEqual(try OVSDBAtom(json: parse(atom.json.jsonText)), atom, "round trip of \(atom)")
        }
    }

    func testUUIDIsWrittenLowercaseAndReadCaseInsensitively() throws {
        XCTAssertEqual(OVSDBAtom.uuid(uuid).json.jsonText, #"["uuid","\#(uuidText)"]"#)
        XCTAssertEqual(try OVSDBAtom(json: parse(#"["uuid","\#(uuidText.uppercased())"]"#)), .uuid(uuid))
    }

    func testAtomTypeCoercionAndMismatches() throws {
        XCTAssertEqual(try OVSDBAtom(json: .integer(3), type: .real), .real(3))
        XCTAssertEqual(try OVSDBAtom(json: .real(4), type: .integer), .integer(4))
        let bad: [(String, OVSDBAtomicType)] = [
            (#""x""#, .integer),
            ("1", .string),
            ("1.5", .integer),
            ("true", .integer),
            (#"["uuid","not-a-uuid"]"#, .uuid),
            (#"["named-uuid","a","b"]"#, .uuid),
            (#"{"a":1}"#, .string),
            ("null", .string),
        ]
        for (text, type) in bad {
            XCTAssertThrowsError(try OVSDBAtom(json: parse(text), type: type), "\(text) as \(type)") { error in
                XCTAssertTrue(error is OVSDBDataError, "\(error)")
            }
        }
    }

    // MARK: Values with a column type

    private let scalarInteger = OVSDBColumnType(key: OVSDBBaseType(type: .integer))
    private let optionalInteger = OVSDBColumnType(key: OVSDBBaseType(type: .integer), min: 0, max: 1)
    private let stringSet = OVSDBColumnType(key: OVSDBBaseType(type: .string), min: 0, max: nil)
    private let uuidSet = OVSDBColumnType(key: OVSDBBaseType(type: .uuid), min: 0, max: nil)
    private let realScalar = OVSDBColumnType(key: OVSDBBaseType(type: .real))
    private let stringMap = OVSDBColumnType(
        key: OVSDBBaseType(type: .string), value: OVSDBBaseType(type: .string), min: 0, max: nil)

    func testValuesDecodeByColumnType() throws {
        let cases: [(String, OVSDBColumnType?, OVSDBValue, String)] = [
            ("5", scalarInteger, .atom(.integer(5)), "scalar"),
            (#"["set",[5]]"#, scalarInteger, .atom(.integer(5)), "scalar sent as set of one"),
            ("5", optionalInteger, .set([.integer(5)]), "set-of-one shorthand into optional"),
            (#"["set",[]]"#, optionalInteger, .set([]), "empty optional"),
            (#""a""#, stringSet, .set(["a"]), "set-of-one shorthand into set"),
            (#"["set",["a","b"]]"#, stringSet, .set(["a", "b"]), "set of two"),
            (#"["set",[]]"#, stringSet, .emptySet, "empty set"),
            (#"["uuid","\#(uuidText)"]"#, uuidSet, .set([.uuid(uuid)]), "uuid set of one"),
            ("2", realScalar, .atom(.real(2)), "integral real"),
            (#"["map",[["k","v"],["a","b"]]]"#, stringMap, .map(["k": "v", "a": "b"]), "map"),
            (#"["map",[]]"#, stringMap, .emptyMap, "empty map"),
            (#"["set",[]]"#, stringMap, .emptyMap, "empty set for a map column"),
            ("5", nil, .atom(.integer(5)), "untyped atom"),
            (#"["set",[1,2]]"#, nil, .set([.integer(1), .integer(2)]), "untyped set"),
            (#"["map",[[1,"x"]]]"#, nil, .map([.integer(1): .string("x")]), "untyped map"),
        ]
        for (text, type, expected, label) in cases {
            XCTAssertEqual(try OVSDBValue(json: parse(text), type: type), expected, label)
        }
    }

    func testValuesEncodeByColumnType() throws {
        let cases: [(OVSDBValue, OVSDBColumnType, String, String)] = [
            (.atom(.integer(5)), scalarInteger, "5", "scalar"),
            (.set([.integer(5)]), scalarInteger, "5", "set of one into scalar"),
            (.optional(.integer(7)), optionalInteger, "7", "optional present: set of one as the atom"),
            (.optional(nil), optionalInteger, #"["set",[]]"#, "optional absent"),
            (.set(["b", "a"]), stringSet, #"["set",["a","b"]]"#, "set sorted"),
            (.atom("a"), stringSet, #""a""#, "atom into set column"),
            (.emptySet, stringSet, #"["set",[]]"#, "empty set"),
            (.stringMap(["z": "1", "a": "2"]), stringMap, #"["map",[["a","2"],["z","1"]]]"#, "map sorted"),
            (.emptySet, stringMap, #"["map",[]]"#, "empty set as empty map"),
            (.set([.namedUUID("p1"), .namedUUID("p2")]), uuidSet,
             #"["set",[["named-uuid","p1"],["named-uuid","p2"]]]"#, "named uuids"),
            (.set([.uuid(uuid)]), uuidSet, #"["uuid","\#(uuidText)"]"#, "uuid set of one"),
        ]
        XCTAssertEqual(try OVSDBValue.atom(.integer(2)).json(for: realScalar), .real(2), "widened to real")
        for (value, type, text, label) in cases {
            XCTAssertEqual(try value.json(for: type).jsonText, try parse(text).jsonText, label)
            let back = try OVSDBValue(json: parse(value.json(for: type).jsonText), type: type)
            let normalized = try OVSDBValue(json: parse(text), type: type)
            XCTAssertEqual(back, normalized, "round trip: \(label)")
        }
    }

    func testUntypedEncodingIsExplicit() throws {
        XCTAssertEqual(OVSDBValue.set([.integer(1)]).json, try parse(#"["set",[1]]"#))
        XCTAssertEqual(OVSDBValue.emptySet.json, try parse(#"["set",[]]"#))
        XCTAssertEqual(OVSDBValue.emptyMap.json, try parse(#"["map",[]]"#))
        XCTAssertEqual(OVSDBValue.atom(.namedUUID("x")).json, try parse(#"["named-uuid","x"]"#))
    }

    func testEncodingRejectsValuesThatBreakTheType() {
        let cases: [(OVSDBValue, OVSDBColumnType, String)] = [
            (.set([.integer(1), .integer(2)]), optionalInteger, "two elements in an optional"),
            (.emptySet, scalarInteger, "nothing for a scalar"),
            (.atom("x"), scalarInteger, "string for integer"),
            (.map(["a": "b"]), stringSet, "map for a set"),
            (.atom("a"), stringMap, "atom for a map"),
            (.map(["a": .integer(1)]), stringMap, "integer map value for string"),
        ]
        for (value, type, label) in cases {
            XCTAssertThrowsError(try value.json(for: type), label)
        }
        // Counts are not checked for condition and mutation operands.
        XCTAssertNoThrow(try OVSDBValue.set([.integer(1), .integer(2)]).json(for: optionalInteger, check: .elementsOnly))
    }

    func testDecodingRejectsShapesThatBreakTheType() {
        let cases: [(String, OVSDBColumnType)] = [
            (#"["map",[["a","b"]]]"#, stringSet),
            (#""a""#, stringMap),
            (#"["set",["a"]]"#, stringMap),
            (#"["map",[["a"]]]"#, stringMap),
            (#"["set","a"]"#, stringSet),
        ]
        for (text, type) in cases {
            XCTAssertThrowsError(try OVSDBValue(json: parse(text), type: type), text)
        }
    }

    func testValueAccessorsReadAtomsAndSetsOfOne() {
        XCTAssertEqual(OVSDBValue.set([.integer(10)]).integer, 10)
        XCTAssertEqual(OVSDBValue.atom(.integer(10)).integer, 10)
        XCTAssertNil(OVSDBValue.emptySet.integer)
        XCTAssertNil(OVSDBValue.set([.integer(1), .integer(2)]).integer)
        XCTAssertEqual(OVSDBValue.stringMap(["a": "b"]).stringMap, ["a": "b"])
        XCTAssertEqual(OVSDBValue.uuidSet([uuid]).uuids, [uuid])
        XCTAssertTrue(OVSDBValue.emptyMap.isEmpty)
    }

    // MARK: Schema

    private let schemaText = #"""
        {"name": "Test", "version": "1.2.3", "cksum": "123 45",
         "tables": {
           "Bridge": {"isRoot": true, "indexes": [["name"]], "columns": {
             "name": {"type": "string", "mutable": false},
             "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
             "mode": {"type": {"key": {"type": "string", "enum": ["set", ["a", "b"]]}, "min": 0, "max": 1}},
             "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}},
           "Port": {"maxRows": 10, "columns": {
             "name": {"type": "string"},
             "tag": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 1}},
             "weight": {"type": "real", "ephemeral": true},
             "bridge": {"type": {"key": {"type": "uuid", "refTable": "Bridge", "refType": "weak"}}}}}}}
        """#

    func testSchemaParsesTablesColumnsAndTypes() throws {
        let schema = try OVSDBDatabaseSchema(json: parse(schemaText))
        XCTAssertEqual(schema.name, "Test")
        XCTAssertEqual(schema.version, "1.2.3")
        XCTAssertEqual(schema.checksum, "123 45")
        XCTAssertEqual(Set(schema.tables.keys), ["Bridge", "Port"])
        let bridge = try schema.table("Bridge")
        XCTAssertTrue(bridge.isRoot)
        XCTAssertEqual(bridge.indexes, [["name"]])
        XCTAssertFalse(try bridge.column("name").isMutable)
        XCTAssertTrue(try bridge.column("name").type.isScalar)
        let ports = try bridge.column("ports").type
        XCTAssertTrue(ports.isSet)
        XCTAssertEqual(ports.min, 0)
        XCTAssertNil(ports.max)
        XCTAssertEqual(ports.key.referencedTable, "Port")
        XCTAssertEqual(ports.key.referenceType, .strong)
        XCTAssertEqual(try bridge.column("mode").type.key.enumeration, ["a", "b"])
        XCTAssertTrue(try bridge.column("mode").type.isOptional)
        let externalIDs = try bridge.column("external_ids").type
        XCTAssertTrue(externalIDs.isMap)
        XCTAssertEqual(externalIDs.value?.type, .string)
        XCTAssertEqual(try bridge.column("_uuid").type.key.type, .uuid)
        let port = try schema.table("Port")
        XCTAssertFalse(port.isRoot)
        XCTAssertEqual(port.maxRows, 10)
        XCTAssertEqual(try port.column("tag").type.key.maxInteger, 4095)
        XCTAssertTrue(try port.column("weight").isEphemeral)
        XCTAssertEqual(try port.column("bridge").type.key.referenceType, .weak)
        XCTAssertThrowsError(try schema.table("Nope"))
        XCTAssertThrowsError(try OVSDBDatabaseSchema(json: parse(#"{"name": "x"}"#)))
        XCTAssertThrowsError(try OVSDBColumnType(json: parse(#"{"key": "string", "max": "lots"}"#)))
    }

    func testRowsEncodeBySchemaAndRejectUnknownColumns() throws {
        let schema = try OVSDBDatabaseSchema(json: parse(schemaText))
        let port = try schema.table("Port")
        let row: OVSDBRow = ["name": "p1", "tag": .optional(.integer(10)), "weight": .atom(.integer(2))]
        XCTAssertEqual(
            try OVSDBRowCoding.json(row, table: port), try parse(#"{"name":"p1","tag":10,"weight":2.0}"#))
        XCTAssertThrowsError(try OVSDBRowCoding.json(["nmae": "p1"], table: port)) { error in
            XCTAssertTrue("\(error)".contains("nmae"), "\(error)")
        }
        let decoded = try OVSDBRowCoding.row(
            from: parse(#"{"name":"p1","tag":["set",[]],"weight":3,"_uuid":["uuid","\#(uuidText)"]}"#), table: port)
        XCTAssertEqual(decoded["tag"], .emptySet)
        XCTAssertEqual(decoded["weight"], .atom(.real(3)))
        XCTAssertEqual(decoded["_uuid"], .atom(.uuid(uuid)))
    }

    // MARK: Operations (RFC 7047 §5.2)

    func testOperationsEncodeWithNamedUUIDsConditionsAndMutations() throws {
        let schema = try OVSDBDatabaseSchema(json: parse(schemaText))
        var txn = OVSDBTransaction(database: "Test")
        let port = txn.insert("Port", row: ["name": "p1", "tag": .optional(.integer(5))])
        txn.append(
            .mutate(
                table: "Bridge", where: [.equals("name", "br0")],
                mutations: [.insert("ports", .atom(port)), .delete("external_ids", .set(["k"]))]))
        txn.append(.waitAbsent("Bridge", where: [.equals("name", "br1")]))
        txn.append(.select("Port", where: [OVSDBCondition("tag", .greaterOrEqual, .atom(.integer(3)))], columns: ["name"]))
        txn.append(.update(table: "Port", where: [.uuid(uuid)], row: ["tag": .emptySet]))
        txn.append(.delete(table: "Port", where: [.includes("tag", .set([.integer(1), .integer(2)]))]))
        txn.append(.comment("why"))
        txn.append(.commit(durable: false))
        let expected: [String] = [
            #"{"op":"insert","table":"Port","row":{"name":"p1","tag":5},"uuid-name":"row1"}"#,
            #"{"op":"mutate","table":"Bridge","where":[["name","==","br0"]],"mutations":[["ports","insert",["named-uuid","row1"]],["external_ids","delete","k"]]}"#,
            #"{"op":"wait","table":"Bridge","where":[["name","==","br1"]],"columns":[],"until":"==","rows":[],"timeout":0}"#,
            #"{"op":"select","table":"Port","where":[["tag",">=",3]],"columns":["name"]}"#,
            #"{"op":"update","table":"Port","where":[["_uuid","==",["uuid","\#(uuidText)"]]],"row":{"tag":["set",[]]}}"#,
            #"{"op":"delete","table":"Port","where":[["tag","includes",["set",[1,2]]]]}"#,
            #"{"op":"comment","comment":"why"}"#,
            #"{"op":"commit","durable":false}"#,
        ]
        XCTAssertEqual(txn.operations.count, expected.count)
        for (operation, text) in zip(txn.operations, expected) {
            XCTAssertEqual(try operation.json(schema: schema), try parse(text), operation.name)
        }
        XCTAssertEqual(port, .namedUUID("row1"))
        XCTAssertThrowsError(try OVSDBOperation.insert("Port", row: ["tag": "x"]).json(schema: schema))
        XCTAssertThrowsError(try OVSDBOperation.select("Nope").json(schema: schema))
    }

    func testTransactionResultResolvesNamedUUIDs() {
        let result = OVSDBTransactionResult(results: [.inserted(uuid)], namedUUIDs: ["row1": uuid])
        XCTAssertEqual(result.uuid(for: .namedUUID("row1")), uuid)
        XCTAssertNil(result.uuid(for: .namedUUID("row2")))
        XCTAssertEqual(result.results.first?.insertedUUID, uuid)
    }

    // MARK: Endpoints

    func testEndpointParsing() throws {
        let good: [(String, OVSDBEndpoint, String)] = [
            ("unix:/var/run/openvswitch/db.sock", .unix(path: "/var/run/openvswitch/db.sock"),
             "unix:/var/run/openvswitch/db.sock"),
            ("tcp:127.0.0.1:6640", .tcp(host: "127.0.0.1", port: 6640), "tcp:127.0.0.1:6640"),
            ("tcp:ovs.example:6641", .tcp(host: "ovs.example", port: 6641), "tcp:ovs.example:6641"),
            ("tcp:[::1]:6642", .tcp(host: "::1", port: 6642), "tcp:[::1]:6642"),
            ("tcp:10.0.0.1", .tcp(host: "10.0.0.1", port: 6640), "tcp:10.0.0.1:6640"),
        ]
        for (text, endpoint, description) in good {
            XCTAssertEqual(try OVSDBEndpoint(parsing: text), endpoint, text)
            XCTAssertEqual(endpoint.description, description)
        }
        let bad = ["pssl:6640", "punix:/tmp/x", "ptcp:6640", "unix:", "tcp::6640", "tcp:h:99999", "tcp:[::1",
                   "db.sock", "http://x"]
        for text in bad {
            XCTAssertThrowsError(try OVSDBEndpoint(parsing: text), text) { error in
                guard let error = error as? OVSDBError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.code, .invalidEndpoint)
                XCTAssertEqual(error.endpoint, text)
            }
        }
        XCTAssertEqual(try OVSDBEndpoint(parsing: "ssl:1.2.3.4:6640"), .ssl(host: "1.2.3.4", port: 6640))
        XCTAssertEqual(try OVSDBEndpoint(parsing: "ssl:[fd00::1]:6640").description, "ssl:[fd00::1]:6640")
    }

    // MARK: Cache

    func testCacheAppliesUpdatesAndReportsChanges() throws {
        let schema = try OVSDBDatabaseSchema(json: parse(schemaText))
        let other = UUID()
        var cache = OVSDBCache()
        let initial = try cache.replace(
            tables: ["Port"],
            with: parse(#"{"Port":{"\#(uuidText)":{"new":{"name":"p1","tag":5}},"\#(other)":{"new":{"name":"p2","tag":["set",[]]}}}}"#),
            schema: schema)
        XCTAssertEqual(Set(initial.map(\.kind)), [.inserted])
        XCTAssertEqual(cache.row(uuid, in: "Port")?["tag"], .set([.integer(5)]))
        XCTAssertEqual(cache.rows(in: "Port", where: "name", equals: "p2").count, 1)

        let modified = try cache.apply(
            parse(#"{"Port":{"\#(uuidText)":{"old":{"tag":5},"new":{"name":"p1","tag":6}}}}"#), schema: schema)
        XCTAssertEqual(modified.count, 1)
        XCTAssertEqual(modified.first?.kind, .modified)
        XCTAssertEqual(modified.first?.old?["tag"]?.integer, 5)
        XCTAssertEqual(modified.first?.new?["tag"]?.integer, 6)

        let deleted = try cache.apply(parse(#"{"Port":{"\#(other)":{"old":{"name":"p2"}}}}"#), schema: schema)
        XCTAssertEqual(deleted.map(\.kind), [.deleted])
        XCTAssertEqual(deleted.first?.old?["name"]?.string, "p2")
        XCTAssertNil(cache.row(other, in: "Port"))

        // A resync replaces the table: the missing row is deleted, a new one inserted, nothing duplicated.
        let third = UUID()
        let resync = try cache.replace(
            tables: ["Port"],
            with: parse(#"{"Port":{"\#(third)":{"new":{"name":"p3","tag":1}}}}"#), schema: schema)
        XCTAssertEqual(Set(resync.map { "\($0.kind):\($0.uuid)" }), ["deleted:\(uuid)", "inserted:\(third)"])
        XCTAssertEqual(Array(cache.rows(in: "Port").keys), [third])
        // Replacing with identical content reports nothing.
        XCTAssertTrue(
            try cache.replace(
                tables: ["Port"], with: parse(#"{"Port":{"\#(third)":{"new":{"name":"p3","tag":1}}}}"#),
                schema: schema
            ).isEmpty)
    }
}
