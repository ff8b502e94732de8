// A view read through a raw eth_call, for the property tests' checks after every step (dozens of
// reads per step, thousands of steps): the calldata is encoded once and the returned words are
// read by name, without ethers' Contract machinery (resolving, populating, the ABI decoder), about
// five times cheaper per read on the in-process Hardhat network. Only the static fields of the
// return can be read (uint/int/bool/bytes32/address, nested static structs); a field of dynamic
// type (string, bytes, arrays) takes one offset word in the head and cannot be read here.
const { ethers, network } = require("hardhat");

function isDynamic(p) {
  if (p.baseType === "string" || p.baseType === "bytes") return true;
  if (p.baseType === "array") return p.arrayLength === -1 || isDynamic(p.arrayChildren);
  if (p.baseType === "tuple") return p.components.some(isDynamic);
  return false;
}

function words(p) {
  if (isDynamic(p)) return 1; // an offset in the head
  if (p.baseType === "tuple") return p.components.reduce((n, c) => n + words(c), 0);
  if (p.baseType === "array") return p.arrayLength * words(p.arrayChildren);
  return 1;
}

/// Head positions (in words, from `base`) of the static scalar fields of `params`, by name
/// (nested structs as "outer.inner").
function layout(params, base, prefix, out) {
  let at = base;
  for (const p of params) {
    const name = prefix + p.name;
    if (p.baseType === "tuple" && !isDynamic(p)) layout(p.components, at, name + ".", out);
    else if (!isDynamic(p) && p.baseType !== "array") out.set(name, { at, type: p.type });
    at += words(p);
  }
  return out;
}

function decodeWord(hex, at, type) {
  const w = BigInt("0x" + hex.slice(2 + 64 * at, 66 + 64 * at));
  if (type === "bool") return w !== 0n;
  if (type === "address") return ethers.getAddress("0x" + (w + (1n << 160n)).toString(16).slice(1));
  if (type.startsWith("bytes")) return "0x" + hex.slice(2 + 64 * at, 66 + 64 * at);
  if (type.startsWith("int")) return BigInt.asIntN(Number(type.slice(3) || 256), w);
  return w;
}

/// rawView(contract, "getTask", [id]) → async () => { pool, creatorBalance, … } (the named static
/// fields of a struct return, or of several named returns); a single unnamed scalar return gives
/// its value (rawView(token, "balanceOf", [a]) → async () => bigint).
function rawView(contract, fn, args) {
  const f = contract.interface.getFunction(fn, args);
  const data = contract.interface.encodeFunctionData(f, args);
  const call = [{ to: contract.target, data }, "latest"];
  const outs = f.outputs;
  if (outs.length === 1 && outs[0].baseType !== "tuple") {
    if (isDynamic(outs[0])) throw new Error(`rawView: ${fn} returns a dynamic ${outs[0].type}`);
    return async () => decodeWord(await network.provider.send("eth_call", call), 0, outs[0].type);
  }
  // One struct: a dynamic one is behind an offset word (its head follows it); a static one is inline.
  const struct = outs.length === 1;
  const dynamic = struct && isDynamic(outs[0]);
  const fields = layout(struct ? outs[0].components : outs, dynamic ? 1 : 0, "", new Map());
  return async () => {
    const hex = await network.provider.send("eth_call", call);
    const o = {};
    for (const [name, { at, type }] of fields) o[name] = decodeWord(hex, at, type);
    return o;
  };
}

module.exports = { rawView };
