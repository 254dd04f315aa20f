from setuptools import find_namespace_packages, setup

with open("requirements.txt") as f:
    install_requires = [
        line.strip() for line in f if line.strip() and not line.startswith("#") and "pytest" not in line
    ]

setup(
    name="ramt",
    version="0.1.0",
    description="Regularized Mask Tuning (R-AMT) of CLIP in a CoOp-style research suite",
    packages=find_namespace_packages(include=["ramt", "ramt.*"], exclude=["*__pycache__*"]),
    package_data={
        "ramt": ["published/*.csv", "data/assets/*.json", "configs/*/*.yaml", "configs/*/*/*.yaml"]
    },
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=install_requires,
    entry_points={
        "console_scripts": [
            "ramt-train = ramt.train:cli",
            "ramt-parse = ramt.parse_test_res:cli",
        ]
    },
    extras_require={
        "test": ["pytest>=7.4", "ruff>=0.4", "submitit>=1.4", "import-linter>=2.17"],
        "slurm": ["submitit>=1.4"],
    },
)
