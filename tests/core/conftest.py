from tests.conversations.conftest import double, english_resident, resident, running_bot

__all__ = ["double", "english_resident", "resident", "running_bot"]
