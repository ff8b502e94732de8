// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

interface IV2Grind {
    function openRound(uint256 taskId) external returns (uint256);
    function drawRoles(uint256 taskId) external;
    function roleOf(uint256 taskId, uint256 round, address node) external view returns (uint8);
}

/// Test-only attacker (issue 16, attack 3): an aggregator contract that opens a round, reads the
/// role of `victim` in the same transaction and reverts unless it is the wanted one.
contract RoleGrinder {
    function grind(IV2Grind v2, uint256 taskId, address victim, uint8 wanted) external {
        uint256 round = v2.openRound(taskId);
        v2.drawRoles(taskId); // AllianceTaskV2: TooEarly, the seed block does not exist yet
        require(v2.roleOf(taskId, round, victim) == wanted, "unlucky");
    }
}
