// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// A task contract whose per-task total stake the daily emission reads (ArenaEmission).
interface IStakeSource {
    /// Total stake (own + delegated) of a task that is still running; 0 once it is closed.
    function taskStake(uint256 taskId) external view returns (uint256);
}

/// @title IArenaTask: the types, events and errors of ArenaTask (issue 17).
/// @notice Semantics are in ArenaTask.sol, the reward rule in ArenaSettlement.sol, and the whole
/// task in contracts/README.md ("ArenaTask").
interface IArenaTask is IStakeSource {
    enum Role {
        None,
        Node,
        Validator
    }

    /// Open (stake, delegate, submit until submitDeadline) → Sealing (closeSubmissions: seed block
    /// fixed) → Scoring (drawAssignments: commit window, then reveal window) → Finalized;
    /// Open → Finalized directly when nothing can be scored (no submission or no validator).
    enum Phase {
        None,
        Open,
        Sealing,
        Scoring,
        Finalized
    }

    struct TaskParams {
        IERC20 token;
        uint256 rewardPool; // pulled from the creator, ≤ MAX_AMOUNT
        uint256 minNodeStake; // > 0
        uint256 minValidatorStake; // > 0
        uint64 submitWindow; // seconds from creation
        uint64 commitWindow; // seconds from drawAssignments
        uint64 revealWindow; // seconds after the commit window
        uint16 validatorsPerSubmission; // k: 1..MAX_K (fewer if fewer validators staked)
        uint16 gammaBps; // 0..10000: weight of the fixed half/half part of the nodes/validators split
        uint16 rankRatioBps; // 1..9999: ratio of the geometric series over ranks
        uint16 toleranceBps; // 1..10000: relative distance to consensus at which agreement reaches 0
        uint16 slashBps; // 0..10000: of a validator's own stake, for a committed score left unrevealed
        uint16 maxCommissionBps; // 0..10000: highest commission a delegate may set
        bytes32 baseModelHash;
        bytes32 evalSetHash;
    }

    struct Task {
        address creator;
        IERC20 token;
        Phase phase;
        uint16 validatorsPerSubmission;
        uint16 gammaBps;
        uint16 rankRatioBps;
        uint16 toleranceBps;
        uint16 slashBps;
        uint16 maxCommissionBps;
        uint16 nodeCount;
        uint16 validatorCount;
        uint16 submissionCount;
        uint16 delegationCount; // (delegator, delegate) pairs with a delegation, ≤ MAX_DELEGATIONS
        uint64 submitDeadline;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 seedBlock;
        uint64 commitWindow;
        uint64 revealWindow;
        bytes32 seed;
        bytes32 baseModelHash;
        bytes32 evalSetHash;
        uint256 minNodeStake;
        uint256 minValidatorStake;
        uint256 pool; // creator's funds + emission received, until finalization
        uint256 creatorBalance; // claimable by the creator (leftover after finalization)
        uint256 totalStake; // own + delegated of every participant (the emission weight)
    }

    struct Participant {
        Role role;
        uint16 index; // in its role's list
        uint16 commissionBps;
        bool submitted;
        uint16 submission; // index in submission order, when submitted
        uint128 reward; // claimable as node or validator (packed here: finalize writes a warm slot)
        uint128 stake; // own
        uint128 delegated; // Σ delegations to it
        bytes32 adapterHash;
        string adapterUri;
    }

    /// A validator's committed score for one submission.
    struct ScoreEntry {
        bytes32 commitment;
        uint64 score; // once revealed
        bool revealed;
        uint32 entry; // index in the task's commit-ordered entry list
    }

    /// What finalize booked for one submission (one storage slot; the node is submissions()[i]).
    struct SubmissionResult {
        bool hasConsensus;
        uint64 consensus;
        uint32 rank; // type(uint32).max without consensus
        uint128 reward; // before the delegation split
    }

    event TaskCreated(uint256 indexed taskId, address indexed creator, TaskParams params);
    event PoolFunded(uint256 indexed taskId, address indexed from, uint256 amount);
    event Staked(uint256 indexed taskId, address indexed who, Role role, uint256 amount, uint256 total);
    event Delegated(uint256 indexed taskId, address indexed delegator, address indexed delegate, uint256 amount);
    event Undelegated(uint256 indexed taskId, address indexed delegator, address indexed delegate, uint256 amount);
    event Submitted(uint256 indexed taskId, address indexed node, uint256 submission, bytes32 adapterHash, string uri);
    event SubmissionsClosed(uint256 indexed taskId, uint256 submissions, uint256 seedBlock);
    event AssignmentsDrawn(uint256 indexed taskId, bytes32 seed, uint256 k, uint64 commitDeadline, uint64 revealDeadline);
    event ScoreCommitted(uint256 indexed taskId, uint256 indexed submission, address indexed validator);
    event ScoreRevealed(uint256 indexed taskId, uint256 indexed submission, address indexed validator, uint64 score);
    event NodeRewarded(uint256 indexed taskId, address indexed node, uint256 submission, uint256 consensus, uint256 rank, uint256 reward);
    event ValidatorRewarded(uint256 indexed taskId, address indexed validator, uint256 weight, uint256 reward);
    event Slashed(uint256 indexed taskId, address indexed validator, uint256 amount);
    event DelegatorPaid(uint256 indexed taskId, address indexed delegator, address indexed delegate, uint256 amount);
    event TaskFinalized(uint256 indexed taskId, uint256 pot, uint256 nodePot, uint256 validatorPot, uint256 paid, uint256 slashed, uint256 creatorCredit);
    event Claimed(uint256 indexed taskId, address indexed who, uint256 amount);
    event Withdrawn(uint256 indexed taskId, address indexed who, uint256 amount);

    error BadTaskParams(string what);
    error UnknownTask(uint256 taskId);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error WrongPhase(Phase phase);
    error WrongRole(address who, Role role);
    error StakeTooSmall(uint256 stake, uint256 minimum);
    error TaskFull(Role role, uint256 max);
    error CommissionTooHigh(uint256 commissionBps, uint256 maxBps);
    error NotDelegate(address delegate);
    error TooManyDelegators(address delegate, uint256 max);
    error TooManyDelegations(uint256 max);
    error InsufficientDelegation(uint256 delegated, uint256 requested);
    error WindowClosed(uint256 deadline);
    error TooEarly(uint256 at);
    error DuplicateAdapter(bytes32 adapterHash);
    error BadSubmission(string what);
    error NotAssigned(address validator, uint256 submission);
    error AlreadyCommitted(address validator, uint256 submission);
    error NotCommitted(address validator, uint256 submission);
    error AlreadyRevealed(address validator, uint256 submission);
    error BadReveal(address validator, uint256 submission);
    error BadScore(uint256 score);
    error LengthMismatch();
    error NothingToClaim();
    error UnsupportedToken(uint256 expected, uint256 received);

    function getTask(uint256 taskId) external view returns (Task memory);
}
