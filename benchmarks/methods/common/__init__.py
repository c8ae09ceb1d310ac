"""Pieces more than one method uses: the plug-in helper, the EMA, the frozen teacher, dense head
outputs, DETR matching, the label-changing hooks and the loss helpers. Not a method."""
