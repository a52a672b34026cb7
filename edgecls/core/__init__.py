"""What every part of edgecls shares and nothing else: the error family (`errors`), atomic file
writes (`files`), input limits (`limits`), text made safe to show (`text`) and the progress
protocol (`progress`). It imports nothing heavy and none of trainer, exporter, runtime or the shell."""
