// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IAllianceTaskV2: the types, events and errors of AllianceTaskV2 (issue 16).
/// @notice Semantics, the round timeline and the trust model are in AllianceTaskV2.sol and
/// contracts/README.md ("AllianceTaskV2").
interface IAllianceTaskV2 {
    // ------------------------------------------------------------------ types

    /// Role of a node in a round (same numbering as AllianceTask): Voter = 0, Proposer = 1.
    enum Role {
        Voter,
        Proposer
    }

    /// None → Seeding (openRound) → Proposing (drawRoles) → Voting (postCandidate) → Finalized;
    /// Seeding/Proposing/Voting → Abandoned (expired seed, no candidate in time, no quorum).
    enum RoundState {
        None,
        Seeding,
        Proposing,
        Voting,
        Finalized,
        Abandoned
    }

    /// Durations in seconds, fixed at creation (nodes see them before joining).
    struct Windows {
        uint64 propose; // after drawRoles: proposers commit their update hash
        uint64 post; // after the propose window: the aggregator posts the candidate
        uint64 commit; // after the post: voters commit their hidden votes
        uint64 reveal; // after the commit window: voters reveal
        uint64 exit; // after every round closes: no round can open (guaranteed exit)
        uint64 unbonding; // unstaked tokens wait this long; equivocation reports are taken this long
        uint64 taskTimeout; // no round closed for this long (and none in flight): the creator may cancel
    }

    struct TaskParams {
        IERC20 token;
        uint256 rewardPool; // pulled from the creator, ≤ MAX_AMOUNT
        uint256 totalRounds; // finalized rounds that pay out, 1..MAX_ROUNDS
        uint256 minStake; // > 0
        uint256 maxMembers; // 1..MAX_MEMBERS; when full, a richer joiner displaces a poorer member
        uint256 proposerBps; // 1..9999
        uint256 slashBps; // 0..10000
        uint256 quorumBps; // 1..10000: revealed voter stake needed, of all voters' stake
        uint256 toleranceBps; // 0..20000: |score − median| ≤ this is "near consensus"
        address aggregator;
        bytes32 modelSpecHash;
        bytes32 initialModelHash;
        bytes32 ruleHash; // the robust aggregation rule (its canonical spec), recorded per round
        Windows windows;
    }

    struct Task {
        address creator;
        address aggregator;
        IERC20 token;
        uint32 totalRounds;
        uint32 finalizedRounds;
        uint32 currentRound; // last opened round id (0 before the first)
        uint32 participantCount; // members[0 .. participantCount) are bound to the round in flight
        bool inFlight; // a round is Seeding, Proposing or Voting
        bool ended; // all rounds finalized, or cancelled
        uint16 proposerBps;
        uint16 slashBps;
        uint16 quorumBps;
        uint16 toleranceBps;
        uint16 maxMembers;
        uint64 lastClosedAt; // creation time, then the close time of the last round
        uint256 minStake;
        uint256 pool;
        uint256 creatorBalance;
        bytes32 modelSpecHash;
        bytes32 modelHash; // last accepted model
        bytes32 ruleHash;
        Windows windows;
    }

    struct Round {
        RoundState state;
        uint32 participantCount;
        uint32 proposerCount;
        uint32 voterCount;
        uint32 updateCommits;
        uint32 voteCommits;
        uint32 reveals;
        uint64 seedBlock; // roles come from blockhash(seedBlock), a block after membership froze
        uint64 proposeDeadline;
        uint64 postDeadline;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 closedAt;
        bytes32 seed;
        bytes32 modelHash; // candidate
        bytes32 includedHash; // keccak256 of the included proposers' update hashes, in participant order
        bytes32 ruleHash;
        int256 median;
        bool accepted;
        uint256 revealedStake;
        uint256 voterStake;
        uint256 paid;
        uint256 slashed;
    }

    /// What the contract holds about one node of a round.
    struct Entry {
        bytes32 commitment; // proposer: its update hash; voter: its vote commitment
        int16 score; // voter, once revealed
        bool revealed;
        bool reported; // equivocation already punished
    }

    /// A node's balances in a task (nodeInfo).
    struct NodeView {
        uint256 stake;
        uint256 reward; // claimable
        uint256 pending; // unbonding
        uint256 unlockAt;
        bool joined;
        bool bound; // participant of the round in flight
    }

    // ------------------------------------------------------------------ events

    event TaskCreated(uint256 indexed taskId, address indexed creator, TaskParams params);
    event AggregatorChanged(uint256 indexed taskId, address aggregator);
    event TaskCancelled(uint256 indexed taskId, uint256 poolToCreator);
    event TaskEnded(uint256 indexed taskId, uint256 leftoverToCreator);
    event Staked(uint256 indexed taskId, address indexed node, uint256 amount, uint256 newStake);
    event Unstaked(uint256 indexed taskId, address indexed node, uint256 amount, uint256 unlockAt);
    event Withdrawn(uint256 indexed taskId, address indexed node, uint256 amount);
    event Joined(uint256 indexed taskId, address indexed node, uint256 stake);
    event Left(uint256 indexed taskId, address indexed node);
    event Displaced(uint256 indexed taskId, address indexed node, address indexed by);
    event Claimed(uint256 indexed taskId, address indexed account, uint256 amount);
    event RoundOpened(uint256 indexed taskId, uint256 indexed round, uint256 participants, uint256 seedBlock);
    event RolesDrawn(uint256 indexed taskId, uint256 indexed round, bytes32 seed, uint256 proposers, uint256 voters);
    event UpdateCommitted(uint256 indexed taskId, uint256 indexed round, address indexed node, bytes32 updateHash);
    event CandidatePosted(
        uint256 indexed taskId,
        uint256 indexed round,
        bytes32 modelHash,
        bytes32 ruleHash,
        bytes32 includedHash,
        uint256 included
    );
    event VoteCommitted(uint256 indexed taskId, uint256 indexed round, address indexed voter);
    event VoteRevealed(uint256 indexed taskId, uint256 indexed round, address indexed voter, int256 score);
    event Rewarded(uint256 indexed taskId, uint256 indexed round, address indexed node, uint256 amount);
    event Slashed(uint256 indexed taskId, uint256 indexed round, address indexed node, uint256 amount);
    event RoundFinalized(
        uint256 indexed taskId,
        uint256 indexed round,
        bytes32 modelHash,
        bool accepted,
        int256 median,
        uint256 paid,
        uint256 slashed
    );
    event RoundAbandoned(uint256 indexed taskId, uint256 indexed round, uint8 reason);
    event Equivocation(uint256 indexed taskId, uint256 indexed round, address indexed node, uint256 slashed);

    // ------------------------------------------------------------------ errors

    error BadTaskParams(string reason);
    error UnknownTask(uint256 taskId);
    error NotCreator(address caller);
    error NotAggregator(address caller);
    error TaskHasEnded(uint256 taskId);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error UnsupportedToken(uint256 requested, uint256 received);
    error StakeTooSmall(uint256 stake, uint256 minStake);
    error AlreadyJoined(address node);
    error NotJoined(address node);
    error TaskFull(uint256 maxMembers);
    error CannotDisplace(address member, uint256 memberStake, uint256 joinerStake);
    error NodeBound(address node, uint256 round);
    error InsufficientStake(uint256 stake, uint256 requested);
    error NothingToClaim();
    error NotUnlocked(uint256 unlockAt);
    error RoundInFlight(uint256 round);
    error NoRoundInFlight();
    error ExitWindow(uint256 opensAt);
    error NoParticipants();
    error WrongRound(uint256 expected, uint256 given);
    error WrongState(uint256 round, RoundState state);
    error TooEarly(uint256 at);
    error TooLate(uint256 deadline);
    error NotParticipant(address node);
    error WrongRole(address node, Role required);
    error AlreadyCommitted(address node);
    error NotCommitted(address node);
    error AlreadyRevealed(address node);
    error BadReveal(address node);
    error BadScore(int256 score);
    error BadBitmap(uint256 index);
    error NotEquivocation(address node);
    error BadSignature(address node);
    error TaskNotIdle(uint256 idleUntil);
}
