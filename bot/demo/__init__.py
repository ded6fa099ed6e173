"""`arseq demo`: ARSeq on embedded defaults, with no account anywhere (`bot.demo.run`)."""

from bot.demo.run import run_demo

__all__ = ["run_demo"]
