// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ArenaSettlement} from "../ArenaSettlement.sol";

/// Test-only: exposes the exact library ArenaTask settles with, so that test/arena_cases.json runs
/// against the Solidity rule case by case.
contract ArenaSettlementHarness {
    function settle(ArenaSettlement.Input memory x) external pure returns (ArenaSettlement.Output memory) {
        return ArenaSettlement.settle(x);
    }

    function splitDelegation(
        uint256 reward,
        uint256 own,
        uint256 commissionBps,
        uint256[] memory delegations
    ) external pure returns (uint256 delegateShare, uint256[] memory delegatorShare) {
        return ArenaSettlement.splitDelegation(reward, own, commissionBps, delegations);
    }
}
