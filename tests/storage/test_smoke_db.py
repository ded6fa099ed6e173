from sqlalchemy import text


async def test_engine_fixture_gives_empty_migrated_database(engine):
    async with engine.connect() as conn:
        assert (await conn.execute(text("select count(*) from customers"))).scalar_one() == 0
