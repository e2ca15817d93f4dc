# %% [markdown]
# ## Running on Colab?
#
# The next cell installs this course's package, `practicaltorch`, when the notebook runs on
# Google Colab. On your own machine it does nothing (install the package once with
# `pip install practicaltorch` or from a checkout with `pip install .`).

# %%
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "practicaltorch @ git+https://github.com/practicaltorch/practicaltorch@main",
        ],
        check=True,
    )
