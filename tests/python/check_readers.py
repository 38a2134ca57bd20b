"""Reads a Distiset written by distil with polars and DuckDB (readers with Parquet decoders
of their own, not pyarrow's) and checks rows, columns and nested values.

Usage: python check_readers.py [DIR]   (default: target/curate-distiset)
"""

import pathlib
import sys

import duckdb
import polars

COLUMNS = [
    "id", "category", "quality", "prompt", "prompt_id", "chosen", "chosen_model",
    "chosen_rating", "rejected", "rejected_model", "rejected_rating", "distil_metadata",
]

passed = 0


def check(condition, message):
    global passed
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        print(f"readers: {passed} passed, 1 failed")
        sys.exit(1)
    passed += 1


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/curate-distiset")
    pattern = str(root / "default" / "train-*.parquet")

    frame = polars.read_parquet(pattern)
    check(frame.height > 0, "polars read rows")
    check(frame.columns == COLUMNS, f"polars columns: {frame.columns}")
    check(frame.schema["quality"] == polars.Float64, f"polars quality: {frame.schema['quality']}")
    first = frame["chosen"][0].to_list()
    check(first[0]["role"] in ("system", "user"), f"polars chosen: {first}")

    db = duckdb.connect()
    rows = db.execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchone()[0]
    check(rows == frame.height, f"duckdb read {rows} rows, polars {frame.height}")
    described = db.execute(f"DESCRIBE SELECT * FROM read_parquet('{pattern}')").fetchall()
    check([row[0] for row in described] == COLUMNS, f"duckdb columns: {described}")
    role = db.execute(
        f"SELECT chosen[1].role FROM read_parquet('{pattern}') WHERE chosen IS NOT NULL LIMIT 1"
    ).fetchone()[0]
    check(role in ("system", "user"), f"duckdb chosen role: {role}")
    mean = db.execute(f"SELECT avg(quality) FROM read_parquet('{pattern}')").fetchone()[0]
    check(abs(mean - frame["quality"].mean()) < 1e-9, f"duckdb mean {mean}")

    print(
        f"readers (polars {polars.__version__}, duckdb {duckdb.__version__}): "
        f"{passed} passed, 0 failed"
    )


if __name__ == "__main__":
    main()
