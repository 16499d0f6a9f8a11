"""`validate`, `convert`, `format` and `doctor`: a persona's rows, checked and rendered."""
from __future__ import annotations

import argparse
import json
import sys

from studio.cli.common import print_findings, refuse_existing, warn


def cmd_validate(args: argparse.Namespace) -> int:
    from studio.core.findings import has_errors
    from studio.data.persona_store import load_persona_checked
    from studio.data.validate import validate_persona

    persona, warnings = load_persona_checked(args.data)
    warn(warnings)
    findings = validate_persona(persona)
    if args.json:
        print(json.dumps({"rows": len(persona.pairs), "findings": [f.to_dict() for f in findings],
                          "warnings": [w.render("en") for w in warnings]},
                         ensure_ascii=False, indent=1))
    else:
        print(f"{len(persona.pairs)} rows")
        print_findings(findings, "no findings")
    return 1 if has_errors(findings) else 0


def cmd_convert(args: argparse.Namespace) -> int:
    from studio.data.exporters import export_pairs
    from studio.data.persona_store import load_persona_checked

    refuse_existing(args.out, args.force)
    persona, warnings = load_persona_checked(args.data)
    warn(warnings)
    out = export_pairs(persona, args.out)
    print(f"wrote {len(persona.pairs)} rows to {out}")
    return 0


def _format_inputs(args: argparse.Namespace):
    from studio.core.models import load_tokenizer
    from studio.data.persona_store import load_persona_checked
    from studio.format.formatting import FormatSettings, render_persona

    persona, warnings = load_persona_checked(args.data)
    warn(warnings)
    tok = load_tokenizer(args.tokenizer, trust_remote_code=args.trust_remote_code)
    settings = FormatSettings(template=args.template, max_length=args.max_length, system_override=args.system)
    return render_persona(persona, tok, settings, args.tokenizer)


def cmd_rules(args: argparse.Namespace) -> int:
    """The persona's rules (its own, or derived from its answers) and how many of its own answers keep each."""
    from studio.data.persona_store import load_persona_checked
    from studio.data.rules import pass_rates

    persona, warnings = load_persona_checked(args.data)
    warn(warnings)
    rules = persona.rules_of()
    rates = pass_rates([(p.answer, True) for p in persona.pairs if p.answer.strip()], rules)
    source = "persona.yaml" if persona.rules is not None else "derived from the answers"
    if args.json:
        print(json.dumps({"source": source, "rules": rules.as_dict(), "answers_keeping": rates}, ensure_ascii=False,
                         indent=1))
        return 0
    print(f"rules ({source}):")
    shown = {"endings": ", ".join(rules.endings), "first_person": rules.first_person,
             "length": f"{rules.min_chars}-{rules.max_chars} characters", "never_say": ", ".join(rules.never_say),
             "language": rules.language, "stops": "ends its turn"}
    for name, value in shown.items():
        state = "off" if name not in rules.active() else f"{rates[name]:.0%} of its answers keep it" \
            if rates.get(name) is not None else "on"
        print(f"  {name:12} {value}  [{state}]")
    return 0


def cmd_format(args: argparse.Namespace) -> int:
    from studio.format.formatting import export_rendered

    refuse_existing(args.out, args.force)
    result = _format_inputs(args)
    out = export_rendered(result, args.out)
    print(f"wrote {len(result.renders)} examples to {out}")
    for f in result.findings:
        if f.severity == "error":
            print(f"error {f.code}: {f.message}", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from studio.core.findings import has_errors

    findings = _format_inputs(args).findings
    if args.json:
        print(json.dumps({"findings": [f.to_dict() for f in findings]}, ensure_ascii=False, indent=1))
    else:
        print_findings(findings, "no findings: the template, tokenizer and data agree")
    return 1 if has_errors(findings) else 0


def _add_format_args(p: argparse.ArgumentParser) -> None:
    from studio.format.templates import TEMPLATE_NAMES
    p.add_argument("--data", required=True, help="persona folder or CSV/TSV/JSONL file")
    p.add_argument("--tokenizer", required=True, help="local folder, hub id, or 'default'")
    p.add_argument("--template", required=True, choices=TEMPLATE_NAMES)
    p.add_argument("--system", default=None, help="system prompt (default: the persona's)")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow the tokenizer's own Python code to run (only for sources you trust)")


def add_parsers(sub, commands: dict) -> None:
    p = sub.add_parser("validate", help="check a persona's rows; exit 1 on errors")
    p.add_argument("--data", required=True, help="persona folder or CSV/TSV/JSONL/card file")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("convert", help="convert between CSV, TSV and messages JSONL")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="F.csv, F.tsv or F.jsonl")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p = sub.add_parser("format", help="render the pairs with a template; write input_ids/labels JSONL")
    _add_format_args(p)
    p.add_argument("--out", required=True, help="F.jsonl (ids and labels) or F.txt (text)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p = sub.add_parser("doctor", help="check template, tokenizer and data; exit 1 on errors")
    _add_format_args(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("rules", help="the persona's rules (its own or derived from its answers), checked on its "
                                     "answers")
    p.add_argument("--data", required=True, help="persona folder")
    p.add_argument("--json", action="store_true")
    commands["rules"] = cmd_rules
    commands["validate"] = cmd_validate
    commands["convert"] = cmd_convert
    commands["format"] = cmd_format
    commands["doctor"] = cmd_doctor
