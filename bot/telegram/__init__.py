"""Telegram: aiogram routers per feature, typed callback data, the reminder channel."""
