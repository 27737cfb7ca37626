"""/myid: a person's own Telegram user id, so a new officer can hand it to the admin
(for `setup --admin-id` or `/grant`). Private chats only; it shows nobody else's id."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.types import Message

from messages import Translator

router = Router(name="myid")
router.message.filter(F.chat.type == "private")


@router.message(Command("myid"), StateFilter("*"))
async def my_id(message: Message, t: Translator) -> None:
    if message.from_user is None:
        return
    await message.answer(t("operator.my_id", user_id=message.from_user.id))
