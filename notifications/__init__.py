"""The notification centre: what each person is told, read and unread, and how they want to
hear of each kind (in the app, by e-mail now or in a daily digest, or a chat webhook).

Below every domain app that tells people things (promotions, monitoring, collaboration), so
they all notify through one service.
"""
