#!/usr/bin/python3
"""A Murmuration node that trains the task's MLP (784-128-10, the layout of
model/include/murmur/model/mlp_spec.hpp) on its shard of Fashion-MNIST with PyTorch.

As a proposer it loads the global model into the MLP, trains a few local epochs and uploads the
change (a state_dict difference, flattened in the task's layout); as a voter it votes +1 when the
candidate's accuracy on its held-out rows is not below the global model's.

    # murmurd's [task] parameters = 101770 (784*128 + 128 + 128*10 + 10)
    PYTHONPATH=build/python /usr/bin/python3 examples/python/fashion_mnist_node.py \\
        --endpoint tcp://127.0.0.1:7770 --register-endpoint tcp://127.0.0.1:7771 \\
        --server-key-file server.key.pub --contract 0x5FbDB2315678afecb367f032d93F642f64180aa3 \\
        --key-file node.key --shard 0 --shards 8

(`--seed S --index I` instead of --key-file uses the deterministic test keys of `murmur load`.)

An MLP cannot learn from all-zero weights (murmurd's model when the task has no initial_model):
give murmurd one, e.g. `fashion_mnist_node.py --write-initial-model initial.f32` and
`initial_model = "initial.f32"` in [task]. A node that still finds a zero model starts from the
same seeded initialisation (--init-seed), so that the nodes' first updates average sensibly.
"""
import argparse
import gzip
from pathlib import Path

import numpy as np
import torch

import murmur

DATA = Path("/usr/share/datasets/fashion-mnist")


def read_idx(images: Path, labels: Path):
    """Pixels scaled to [0, 1] (as model/src/idx.cpp reads them) and int64 labels."""
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def mlp(widths=(784, 128, 10)) -> torch.nn.Sequential:
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint")
    p.add_argument("--register-endpoint")
    p.add_argument("--server-key-file")
    p.add_argument("--contract", help="the task contract (EIP-712 domain)")
    p.add_argument("--chain-id", type=int, default=31337)
    p.add_argument("--key-file", help="the node's chain key (64 hex digits)")
    p.add_argument("--seed", type=int, help="test networks only: derive the key from a seed")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--curve-key-file", default="node.curve")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=0, help="stop after this many (0: until closed)")
    p.add_argument("--init-seed", type=int, default=0, help="torch seed of the initial weights")
    p.add_argument("--write-initial-model", metavar="PATH",
                   help="write the initial weights as raw f32 for murmurd's initial_model, exit")
    a = p.parse_args()

    torch.manual_seed(a.init_seed)
    initial = murmur.flatten_state_dict(mlp().state_dict())
    if a.write_initial_model:
        initial.tofile(a.write_initial_model)
        print(f"wrote {initial.size} parameters to {a.write_initial_model}")
        return

    x, y = read_idx(DATA / "train-images-idx3-ubyte.gz", DATA / "train-labels-idx1-ubyte.gz")
    x, y = x[a.shard::a.shards], y[a.shard::a.shards]
    held_out = len(x) // 10  # the last tenth judges candidates
    x_train, y_train, x_eval, y_eval = x[:-held_out], y[:-held_out], x[-held_out:], y[-held_out:]
    model = mlp()
    torch.manual_seed(1000 + a.shard)  # each node shuffles its batches its own way

    def train(global_model: np.ndarray):
        start = initial if not global_model.any() else global_model
        murmur.load_flat(model, start)
        opt = torch.optim.SGD(model.parameters(), lr=a.lr)
        model.train()
        for _ in range(a.epochs):
            order = torch.randperm(len(x_train))
            for start in range(0, len(order), a.batch):
                batch = order[start:start + a.batch]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                opt.step()
        trained = murmur.flatten_state_dict(model.state_dict())
        print(f"trained on {len(x_train)} rows, last batch loss {loss.item():.4f}")
        # The update is a delta from the global model (zeros included: the delta is then the
        # whole trained model, and the candidate the average of the nodes' models).
        return trained - global_model, len(x_train)

    def evaluate(candidate: np.ndarray):
        murmur.load_flat(model, candidate)
        model.eval()
        with torch.no_grad():
            logits = model(x_eval)
            accuracy = (logits.argmax(1) == y_eval).float().mean().item()
            loss = torch.nn.functional.cross_entropy(logits, y_eval).item()
        return accuracy, loss

    if not (a.endpoint and a.register_endpoint and a.server_key_file and a.contract):
        p.error("--endpoint, --register-endpoint, --server-key-file and --contract are required")
    key = (murmur.PrivateKey.derive(a.seed, a.index) if a.seed is not None
           else murmur.PrivateKey.from_hex(Path(a.key_file).read_text()))
    node = murmur.Node(a.endpoint, a.register_endpoint, server_key_file=a.server_key_file,
                       key=key, chain_id=a.chain_id, contract=a.contract,
                       curve_key_file=a.curve_key_file)
    print(f"node {node.address}: shard {a.shard}/{a.shards}, {len(x_train)} training rows")
    report = node.run(train, evaluate, rounds=a.rounds, verbose=True)
    print(f"node {node.address}: {report}")


if __name__ == "__main__":
    main()
