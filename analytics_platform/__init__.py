"""Analytics platform for a payments business."""
