import AAMVA
import Foundation
import Testing

/// Our reading of 67 issuers' real-layout barcode texts (../shared/reference/aamva-samples, read
/// from there, never copied) against an independent parser, PyPI's `aamva-parser` (installed by
/// scripts/test), run as a separate process by Tests/Support/aamva_reference.py.
@Suite struct AAMVASampleCorpusTests {
    static let samples = TestSupport.packageRoot + "/../shared/reference/aamva-samples"
    static var samplesPresent: Bool { FileManager.default.fileExists(atPath: samples) }

    /// Where the reference reads nothing, because the card writes CCYYMMDD dates (it only reads
    /// MMDDCCYY) or pipes instead of line feeds: our documented readings, checked by hand against
    /// the texts (date of birth, expiry).
    static let documentedDifferences: [String: (String, String)] = [
        "Invalid_Header.txt": ("1961-02-04", "2023-02-04"),
        "Licenses-AB.txt": ("1993-02-04", "2019-01-08"),
        "Licenses-AZ.txt": ("1989-01-24", "2054-01-24"),
        "Licenses-CT.txt": ("1961-01-01", "2015-01-01"),
        "Licenses-CT_Web_Browser.txt": ("1961-01-01", "2015-01-01"),
        "Licenses-CT_Multiple_Middle_Names.txt": ("1976-10-07", "2022-10-07"),
        "Licenses-CT_Suffix.txt": ("1976-10-07", "2022-10-07"),
        "Licenses-CT_No_Middle_Name.txt": ("1949-03-03", "2023-03-03"),
        "Licenses-DC.txt": ("1985-07-29", "2021-07-29"),
        "Licenses-FL.txt": ("1941-05-09", "2022-03-09"),
        "Licenses-LA.txt": ("1974-07-07", "2018-07-07"),
        "Licenses-MO.txt": ("2017-08-09", "2018-02-04"),
        "Licenses-ON.txt": ("1996-06-03", "2020-06-03"),
        "Licenses-OR.txt": ("1950-06-26", "2024-06-26"),
        "Licenses-PA.txt": ("1986-02-02", "2020-02-03"),
        "Licenses-PA_Three_Middle_Names.txt": ("1986-02-02", "2020-02-03"),
        "Licenses-PA_Two_Middle_Names.txt": ("1986-02-02", "2020-02-03"),
        "Licenses-PE.txt": ("1955-09-04", "2020-09-04"),
        "Licenses-SC.txt": ("1972-02-12", "2019-02-12"),
        "Licenses-WV.txt": ("1972-11-03", "2022-11-03"),
        "Licenses-WY.txt": ("1958-10-31", "2021-10-31"),
        "Licenses-MA_Piped.txt": ("1977-07-07", "2020-07-07"),
    ]

    struct Reference: Decodable {
        var file: String
        var dob: String?
        var expiry: String?
        var error: String?
    }

    @Test(.enabled(if: samplesPresent, "the AAMVA samples (../shared/reference/aamva-samples) are not here"))
    func everySampleReadsAsTheIndependentParserOrAsDocumented() throws {
        let script = TestSupport.packageRoot + "/Tests/Support/aamva_reference.py"
        let run = try TestSupport.capture("/usr/bin/env", ["python3", script, Self.samples])
        try #require(run.status == 0, "aamva_reference.py failed (pip install aamva-parser): \(run.output)")
        let references = try run.output.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
        #expect(references.count >= 60, "only \(references.count) samples")
        var agreed = 0, documented = 0
        for reference in references {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: Self.samples + "/" + reference.file)), as: UTF8.self)
            let document: IdentityDocument
            do { document = try IdentityDocument(scanned: text) } catch {
                Issue.record("\(reference.file): \(error)")
                continue
            }
            let ours = (document.dateOfBirth.description, document.expiry.description)
            if let dob = reference.dob, let expiry = reference.expiry {
                #expect(ours == (dob, expiry), "\(reference.file): ours \(ours), aamva-parser \(dob) / \(expiry)")
                #expect(Self.documentedDifferences[reference.file] == nil, "\(reference.file) is listed as a difference but agrees")
                agreed += 1
            } else {
                let expected = try #require(Self.documentedDifferences[reference.file], "\(reference.file): aamva-parser reads nothing and no documented reading")
                #expect(ours == expected, "\(reference.file): ours \(ours), documented \(expected)")
                documented += 1
            }
        }
        print("AAMVA samples: \(agreed) agree with aamva-parser, \(documented) documented differences")
        #expect(agreed + documented == references.count)
    }
}
