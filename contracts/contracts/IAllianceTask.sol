// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IAllianceTask: the types, events, errors and functions of AllianceTask.
/// @notice What murmurd, the murmur CLI and other contracts bind to. Semantics, formulas and the
/// EIP-712 encoding are documented in AllianceTask.sol and contracts/README.md.
interface IAllianceTask {
    // ------------------------------------------------------------------ types

    /// Role of a node in a round. Numeric values are part of the ABI: Voter = 0, Proposer = 1.
    enum Role {
        Voter,
        Proposer
    }

    enum RoundState {
        None,
        Open,
        Finalized,
        Abandoned
    }

    /// Parameters of `createTask`.
    struct TaskParams {
        IERC20 token; // ERC-20 of the pool, the stakes and the rewards
        uint256 rewardPool; // pulled from the creator at creation (transferFrom)
        uint256 totalRounds; // rounds that pay out, 1..MAX_ROUNDS
        uint256 minStake; // > 0, needed to join
        uint256 proposerBps; // role fraction: a participant is a proposer with probability proposerBps/10000
        uint256 slashBps; // fraction of a loser's stake taken per round, 0..10000
        address aggregator; // the only account allowed to start, finalize (and early-abandon) rounds
        bytes32 modelSpecHash; // hash of the model specification (architecture, data format)
        bytes32 initialModelHash; // content hash of the initial global model
    }

    struct Task {
        address creator;
        uint32 totalRounds;
        uint32 finalizedRounds;
        uint32 currentRound; // id of the most recently started round; 0 before the first
        IERC20 token;
        uint16 proposerBps;
        uint16 slashBps;
        bool roundOpen;
        uint32 participantCount; // members[0 .. participantCount) are the open round's participants
        address aggregator;
        uint256 minStake;
        uint256 pool; // undistributed reward pool
        uint256 creatorBalance; // claimable by the creator (slash share, leftover pool)
        bytes32 modelSpecHash;
        bytes32 modelHash; // current global model: the last accepted one
    }

    struct Round {
        bytes32 seed;
        bytes32 modelHash; // the candidate posted by finalizeRound (accepted or not)
        uint64 startedAt;
        uint32 participantCount;
        RoundState state;
        bool accepted;
        int256 voteSum; // stake-weighted sum of the counted votes
        uint256 rewardPaid; // Σ reward_i
        uint256 slashed; // Σ slash_i
    }

    /// A voter's signed vote as submitted by the aggregator. `signature` is 65 bytes r ‖ s ‖ v with
    /// v ∈ {27, 28} and low s (EIP-2), over the EIP-712 digest of Vote(taskId, round, modelHash, score).
    struct Vote {
        address voter;
        int8 score;
        bytes signature;
    }

    // ------------------------------------------------------------------ events

    event TaskCreated(uint256 indexed taskId, address indexed creator, TaskParams params);
    event Staked(uint256 indexed taskId, address indexed node, uint256 amount, uint256 newStake);
    event Unstaked(uint256 indexed taskId, address indexed node, uint256 amount, uint256 newStake);
    event Joined(uint256 indexed taskId, address indexed node, uint256 stakeAmount);
    event Left(uint256 indexed taskId, address indexed node);
    event RoundStarted(uint256 indexed taskId, uint256 indexed round, bytes32 seed, uint256 participantCount);
    event Rewarded(uint256 indexed taskId, uint256 indexed round, address indexed node, uint256 amount);
    event Slashed(uint256 indexed taskId, uint256 indexed round, address indexed node, uint256 amount);
    event RoundFinalized(
        uint256 indexed taskId,
        uint256 indexed round,
        bytes32 modelHash,
        bool accepted,
        int256 voteSum,
        uint256 rewardPaid,
        uint256 slashed,
        uint256 toPool,
        uint256 toCreator
    );
    event RoundAbandoned(uint256 indexed taskId, uint256 indexed round, address by);
    event TaskEnded(uint256 indexed taskId, uint256 leftoverToCreator);
    event Claimed(uint256 indexed taskId, address indexed account, uint256 amount);

    // ------------------------------------------------------------------ errors

    error BadTaskParams(string reason);
    error UnknownTask(uint256 taskId);
    error UnknownRound(uint256 taskId, uint256 round);
    error TaskHasEnded(uint256 taskId);
    error NotAggregator(address caller);
    error ZeroAmount();
    error UnsupportedToken(uint256 requested, uint256 received);
    error StakeTooSmall(uint256 stake, uint256 minStake);
    error InsufficientStake(uint256 stake, uint256 requested);
    error AlreadyJoined(address node);
    error NotJoined(address node);
    error TaskFull(uint256 maxMembers);
    error NodeBound(address node, uint256 round);
    error RoundStillOpen(uint256 round);
    error RoundNotOpen(uint256 round);
    error WrongRound(uint256 expected, uint256 given);
    error NoParticipants();
    error BadScore(address voter, int8 score);
    error BadSignature(address voter);
    error NotParticipant(address node);
    error WrongRole(address node, Role required);
    error DuplicateVote(address voter);
    error DuplicateFlag(address proposer);
    error RoundNotExpired(uint256 deadline);
    error NothingToClaim();

    // ------------------------------------------------------------------ functions

    function createTask(TaskParams calldata p) external returns (uint256 taskId);
    function stake(uint256 taskId, uint256 amount) external;
    function join(uint256 taskId) external;
    function leave(uint256 taskId) external;
    function unstake(uint256 taskId, uint256 amount) external;
    function claim(uint256 taskId) external returns (uint256 amount);
    function startRound(uint256 taskId) external returns (uint256 round);
    function abandonRound(uint256 taskId) external;
    function finalizeRound(
        uint256 taskId,
        uint256 round,
        bytes32 modelHash,
        Vote[] calldata votes,
        address[] calldata flaggedProposers
    ) external;

    function roleOf(uint256 taskId, uint256 round, address node) external view returns (Role);
    function voteDigest(uint256 taskId, uint256 round, bytes32 modelHash, int8 score) external view returns (bytes32);
    function getTask(uint256 taskId) external view returns (Task memory);
    function getRound(uint256 taskId, uint256 round) external view returns (Round memory);
    function nodeInfo(
        uint256 taskId,
        address node
    ) external view returns (uint256 stakeAmount, uint256 reward, bool joined, bool bound);
    function stakeOf(uint256 taskId, address node) external view returns (uint256);
    function rewardOf(uint256 taskId, address node) external view returns (uint256);
    function isParticipant(uint256 taskId, address node) external view returns (bool);
    function participants(uint256 taskId) external view returns (address[] memory);
    function members(uint256 taskId) external view returns (address[] memory);
    function roundReward(uint256 taskId) external view returns (uint256);
}
