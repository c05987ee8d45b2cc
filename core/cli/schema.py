"""`isobridge schema NAME`: print the JSON Schema of a data contract."""

from __future__ import annotations

import argparse
import json

from ..models import SCHEMAS


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("schema", help="print the JSON Schema of a data contract")
    parser.add_argument("name", choices=sorted(SCHEMAS), help="which contract")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema."""
    print(json.dumps(SCHEMAS[args.name].model_json_schema(), ensure_ascii=False, indent=2))
    return 0
