"""Reads a Distiset written by distil (`cargo run --example curate`) with Python's `datasets`,
`pyarrow` and `pandas`, as a user would, and checks row counts, column names and types.
CI runs it with several pyarrow versions (see .ci/run).

Usage: python check_distiset.py [DIR]   (default: target/curate-distiset)
"""

import json
import pathlib
import sys

import datasets
import pandas
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

EXPECTED = {
    "id": pa.string(),
    "category": pa.string(),
    "quality": pa.float64(),
    "prompt": pa.string(),
    "prompt_id": pa.string(),
    "chosen": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
    "chosen_model": pa.string(),
    "chosen_rating": pa.float64(),
    "rejected": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
    "rejected_model": pa.string(),
    "rejected_rating": pa.float64(),
    "distil_metadata": pa.string(),
}

passed = 0


def check(condition, message):
    global passed
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        print(f"python: {passed} passed, 1 failed")
        sys.exit(1)
    passed += 1


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/curate-distiset")
    shards = sorted((root / "default").glob("train-*.parquet"))
    check(shards, f"no shard in {root}/default")
    count = len(shards)
    check(
        [s.name for s in shards]
        == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)],
        f"shard names: {[s.name for s in shards]}",
    )

    # pyarrow: the schema distil declared, and the rows.
    table = pq.read_table([str(s) for s in shards])
    check(table.num_rows > 0, "the curated set has rows")
    check(table.column_names == list(EXPECTED), f"columns: {table.column_names}")
    for name, expected in EXPECTED.items():
        found = table.schema.field(name).type
        check(found.equals(expected), f"column {name}: {found}, expected {expected}")

    # pandas: the whole config folder, through pyarrow's dataset reader.
    frame = pandas.read_parquet(str(root / "default"))
    check(len(frame) == table.num_rows, f"pandas read {len(frame)} rows")
    check(list(frame.columns) == list(EXPECTED), f"pandas columns: {list(frame.columns)}")
    check(frame["quality"].dtype == "float64", f"pandas quality: {frame['quality'].dtype}")

    # datasets: through the README's `configs:`, as `load_dataset(dir, config)`.
    dataset = datasets.load_dataset(str(root), "default")
    check(list(dataset) == ["train"], f"splits: {list(dataset)}")
    train = dataset["train"]
    check(train.num_rows == table.num_rows, f"{train.num_rows} rows, pyarrow read {table.num_rows}")
    check(train.column_names == list(EXPECTED), f"datasets columns: {train.column_names}")
    check(train.features["quality"].dtype == "float64", f"quality: {train.features['quality']}")
    check(train.features["prompt"].dtype == "string", f"prompt: {train.features['prompt']}")
    row = train[0]
    check(row["chosen"][0]["role"] in ("system", "user"), f"first chosen message: {row['chosen']}")
    check(
        all(m is None or "errors" in json.loads(m) for m in train["distil_metadata"]),
        "the metadata column holds JSON text",
    )

    # The card and the pipeline description.
    card = (root / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    check("# Dataset Card for curate-preferences\n" in card, "the card is titled after the pipeline")
    check("synthetic" in front["tags"] and "distil" in front["tags"], f"tags: {front['tags']}")
    description = yaml.safe_load((root / "pipeline.yaml").read_text())
    check(description["pipeline"]["name"] == "curate-preferences", "pipeline.yaml names it")
    check((root / "pipeline.log").read_text().strip(), "pipeline.log is not empty")

    print(
        f"python (pyarrow {pa.__version__}, datasets {datasets.__version__}, "
        f"pandas {pandas.__version__}): {passed} passed, 0 failed"
    )


if __name__ == "__main__":
    main()
