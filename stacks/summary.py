"""Print what a synthesized cloud assembly would deploy: `python -m stacks.summary cdk.out`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Resource types a person deciding whether to deploy cares about first (they cost money or
# face the network); the rest are counted.
_NOTABLE = {
    "AWS::AutoScaling::AutoScalingGroup": "GPU Auto Scaling group",
    "AWS::Batch::ComputeEnvironment": "Batch GPU compute environment",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Application Load Balancer",
    "AWS::EC2::NatGateway": "NAT gateway",
    "AWS::EFS::FileSystem": "EFS weight cache",
    "AWS::SecretsManager::Secret": "Secrets Manager secret",
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::ECS::Service": "ECS service",
}


def _facts(template: dict[str, Any]) -> list[str]:
    facts = []
    for res in template.get("Resources", {}).values():
        props = res.get("Properties", {})
        rtype = res["Type"]
        if rtype == "AWS::EC2::LaunchTemplate":
            data = props.get("LaunchTemplateData", {})
            if "InstanceType" in data:
                facts.append(f"instance type {data['InstanceType']}")
        elif rtype == "AWS::Batch::ComputeEnvironment":
            cr = props.get("ComputeResources", {})
            facts.append(
                f"Batch {cr.get('Type', '')} {', '.join(cr.get('InstanceTypes', []))}, "
                f"vCPUs {cr.get('MinvCpus', 0)}..{cr.get('MaxvCpus')}"
            )
        elif rtype == "AWS::ECS::TaskDefinition":
            for c in props.get("ContainerDefinitions", []):
                gpus = [r["Value"] for r in c.get("ResourceRequirements", []) if r.get("Type") == "GPU"]
                image = c.get("Image")
                facts.append(
                    f"container {c.get('Name')}: {image if isinstance(image, str) else '(asset image)'}"
                    + (f", {gpus[0]} GPU" if gpus else "")
                )
        elif rtype == "AWS::EC2::SecurityGroup":
            if any(r.get("CidrIp") == "0.0.0.0/0" for r in props.get("SecurityGroupIngress", [])):
                facts.append(
                    "load balancer OPEN TO THE WHOLE INTERNET (0.0.0.0/0): only the API key protects it"
                )
        elif rtype == "AWS::Batch::JobDefinition":
            cp = props.get("ContainerProperties", {})
            gpus = [r["Value"] for r in cp.get("ResourceRequirements", []) if r.get("Type") == "GPU"]
            facts.append(
                f"job definition: {gpus[0] if gpus else 0} GPU, timeout "
                f"{props.get('Timeout', {}).get('AttemptDurationSeconds', '-')} s, "
                f"{props.get('RetryStrategy', {}).get('Attempts', 1)} attempts"
            )
    return facts


def summarize(outdir: Path, console: Console) -> None:
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [
        (name, art)
        for name, art in manifest["artifacts"].items()
        if art["type"] == "aws:cloudformation:stack"
    ]
    for name, art in stacks:
        template = json.loads((outdir / art["properties"]["templateFile"]).read_text())
        counts = Counter(r["Type"] for r in template.get("Resources", {}).values())
        table = Table(
            title=f"{name}: {sum(counts.values())} resources", title_justify="left", show_lines=False
        )
        table.add_column("what")
        table.add_column("detail")
        for rtype, label in _NOTABLE.items():
            if counts.get(rtype):
                table.add_row(label, f"{counts[rtype]} x {rtype}")
        for fact in _facts(template):
            table.add_row("setting", fact)
        for pname, p in template.get("Parameters", {}).items():
            if pname == "BootstrapVersion" or pname.startswith("SsmParameterValue"):
                continue  # CDK's own: bootstrap check, latest ECS GPU AMI id from SSM
            table.add_row(
                "parameter", f"{pname}{' (NoEcho)' if p.get('NoEcho') else ''}: {p.get('Description', '')}"
            )
        for oname, o in template.get("Outputs", {}).items():
            table.add_row("output", f"{oname}: {o.get('Description', '')}")
        console.print(table)
    console.print(
        f"[bold]{len(stacks)} stacks synthesized offline into {outdir}/[/bold]; "
        "deploy one with `cdk deploy ReasonerStack` or `cdk deploy GeneratorBatchStack`."
    )


def main() -> None:
    outdir = Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out")
    if not (outdir / "manifest.json").exists():
        sys.exit(f"{outdir}/manifest.json not found: run `cdk synth` first")
    summarize(outdir, Console())


if __name__ == "__main__":
    main()
