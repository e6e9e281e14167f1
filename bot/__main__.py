from rapport.bot.cli import main

main()
