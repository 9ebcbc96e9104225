"""Reports that leave the dashboard: the TRIPOD+AI model card and the one-page patient report."""
