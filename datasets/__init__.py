"""CoOp's ``datasets/`` folder, kept for users who look for it.

The dataset classes live in the installed package (``ramt/datasets/``, one file per dataset);
each module here only re-exports one of them. The suite itself never imports this top-level
package (a Hugging Face ``datasets`` installation cannot shadow the suite's datasets).
"""

import ramt.datasets  # noqa: F401  (registers the datasets)
