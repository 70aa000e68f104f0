"""History of the warehouse: retracting a month, reproducing a past build."""
