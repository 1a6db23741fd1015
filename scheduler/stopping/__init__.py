"""Early stopping of trials and global stopping of experiments (see issue 7)."""
