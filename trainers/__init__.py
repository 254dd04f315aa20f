"""CoOp's ``trainers/`` folder, kept for users who look for it.

The trainers live in the installed package (``ramt/trainers/``, one file per trainer); each
module here only re-exports one of them. Importing this package registers every trainer.
"""

import ramt.trainers  # noqa: F401  (registers the trainers)
