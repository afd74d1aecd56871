import CaskTestSupport
import Foundation
@testable import Cask

struct Report: Codable, Equatable, Sendable {
    var id: Int
    var title: String
    var scores: [Double]
}
