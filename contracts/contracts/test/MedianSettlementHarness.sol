// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MedianSettlement} from "../MedianSettlement.sol";

/// Test-only: exposes the exact library AllianceTaskV2 settles with, so that
/// test/median_cases.json runs against the Solidity rule case by case.
contract MedianSettlementHarness {
    function settle(MedianSettlement.Input memory x) external pure returns (MedianSettlement.Output memory) {
        return MedianSettlement.settle(x);
    }
}
