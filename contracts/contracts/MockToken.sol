// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockToken: a plain 18-decimal ERC-20 for local chains and tests ONLY.
/// @notice Anyone can mint any amount. Never deploy it where tokens have value; a real task is
/// configured with the address of a real token.
contract MockToken is ERC20 {
    constructor() ERC20("Murmuration Mock Token", "MURM") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
