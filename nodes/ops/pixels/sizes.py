"""Sizes the pixel operations choose by, importable without torch (admission reads them)."""

# Up to this radius Grow Mask's diamond is grown a cross at a time: few passes, and no
# rotated grid ((H + W)^2 values, 4x the mask's memory for a square mask) to hold.
STEPWISE_RADIUS = 16
