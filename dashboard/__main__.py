"""``python -m dashboard [--check] [streamlit flags…]``: start the dashboard after the serving-rule check."""
import sys

from dashboard.launch import main

sys.exit(main())
