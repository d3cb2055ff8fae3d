"""The table-size gauge runs on the metrics server's thread; it must leave the table on the worker's loop."""

import threading

import faust
from mode.utils.loops import get_event_loop

from streams.runtime import state_store


def test_stored_keys_scraped_before_start_leaves_the_table_on_the_workers_loop(tmp_path):
    # A scrape before the worker starts the table once created its store from the metrics thread,
    # binding the table to that thread's loop: its tasks never ran and its stop never ended.
    app = faust.App("state-store-test", broker="kafka://127.0.0.1:1", store=state_store.STORE_URL,
                    datadir=str(tmp_path))
    table = app.Table("seen", default=None, options=state_store.table_options())
    scraped = []
    scrape = threading.Thread(target=lambda: scraped.append(state_store.stored_keys(table)))
    scrape.start()
    scrape.join()
    assert scraped == [0]
    assert table.loop is get_event_loop()
    assert table.data.loop is get_event_loop()
