"""What the pages say, in Mandarin (default) and English. Keys are stable; texts are not."""

from __future__ import annotations

LANGS = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "平安通 家中设备", "en": "Ping'an home hub"},
    "lang_other": {"zh": "English", "en": "中文"},
    "login_title": {"zh": "请输入密码", "en": "Enter your PIN"},
    "login_help": {
        "zh": "安装人员：在主机上运行 pingan-hub pin，或同时按住两个按钮 5 秒听取密码"
        "（红色按钮仍会发出一次求助，请先告知服务中心）。家属：使用服务机构给您的家属密码。",
        "en": "Installer: run pingan-hub pin on the hub, or hold both buttons for 5 s to "
        "hear it (the red button still sends an SOS: tell the centre first). Family: use "
        "the family PIN the service gave you.",
    },
    "pin": {"zh": "密码", "en": "PIN"},
    "unlock": {"zh": "进入", "en": "Unlock"},
    "logout": {"zh": "退出", "en": "Log out"},
    "wrong_pin": {
        "zh": "密码不对，还可以再试 {left} 次。",
        "en": "Wrong PIN; {left} tries left.",
    },
    "locked": {
        "zh": "密码错误次数太多，请 {s} 秒后再试。",
        "en": "Too many wrong PINs; try again in {s} s.",
    },
    "pin_format": {"zh": "密码只能是 6 到 8 位数字。", "en": "A PIN is 6 to 8 digits."},
    "csrf": {
        "zh": "页面已过期，请刷新后再试（没有做任何更改）。",
        "en": "This page has expired; reload it and try again (nothing was changed).",
    },
    "too_big": {
        "zh": "提交的内容太大（没有做任何更改）。",
        "en": "What was sent is too large (nothing was changed).",
    },
    "too_slow": {
        "zh": "提交的内容没有及时收到（没有做任何更改），请再试一次。",
        "en": "What was sent did not arrive in time (nothing was changed); try again.",
    },
    "too_many_live": {
        "zh": "打开的页面太多了，请关闭其他页面后刷新。",
        "en": "Too many pages are open; close the others and reload this one.",
    },
    "not_logged_in": {"zh": "请先输入密码。", "en": "Please enter your PIN first."},
    "installer_only": {
        "zh": "家属密码只能查看，不能更改设置。",
        "en": "The family PIN can only look, not change anything.",
    },
    "wrong_host": {
        "zh": "这个网址不是本机的地址（{host}），请求已拒绝。请打开 {url}",
        "en": "This address ({host}) is not the hub's; the request was refused. Open {url}",
    },
    "error": {"zh": "出错了", "en": "Something is wrong"},
    "nothing_changed": {"zh": "没有做任何更改。", "en": "Nothing was changed."},
    "back": {"zh": "返回", "en": "Back"},
    "tab_devices": {"zh": "配对", "en": "Pair"},
    "tab_walk": {"zh": "巡检", "en": "Walk test"},
    "tab_survey": {"zh": "信号", "en": "Signal"},
    "tab_family": {"zh": "家属页", "en": "Family"},
    # pairing
    "permit_join": {"zh": "允许配对 {s} 秒", "en": "Permit join for {s} s"},
    "permit_open": {
        "zh": "正在等待新设备：还剩 {s} 秒。请触发要添加的设备（按一下、开关门、按测试键）。",
        "en": "Listening for new devices: {s} s left. Trigger each device to add "
        "(press it, open the door, press its test button).",
    },
    "permit_closed": {"zh": "配对已关闭。", "en": "Permit join is closed."},
    "stop": {"zh": "停止", "en": "Stop"},
    "heard": {"zh": "新发现的设备", "en": "Heard, not paired"},
    "none_heard": {"zh": "还没有发现新设备。", "en": "No new device heard yet."},
    "looks_like": {"zh": "类型", "en": "Looks like"},
    "signal": {"zh": "信号", "en": "Signal"},
    "times": {"zh": "次", "en": "times"},
    "name": {"zh": "名称", "en": "Name"},
    "room": {"zh": "房间", "en": "Room"},
    "kind": {"zh": "种类", "en": "Kind"},
    "pair": {"zh": "添加", "en": "Pair"},
    "replaces": {"zh": "替换旧设备", "en": "Replaces"},
    "replace_none": {"zh": "（新设备）", "en": "(a new device)"},
    "paired": {"zh": "已添加的设备", "en": "Paired devices"},
    "none_paired": {"zh": "还没有添加设备。", "en": "No device paired yet."},
    "remove": {"zh": "删除", "en": "Remove"},
    "save": {"zh": "保存", "en": "Save"},
    "edit": {"zh": "改名/换房间", "en": "Rename / move"},
    "last_seen": {"zh": "最近信号", "en": "Last heard"},
    "never": {"zh": "从未", "en": "never"},
    "online": {"zh": "在线", "en": "online"},
    "offline": {"zh": "离线", "en": "offline"},
    "battery": {"zh": "电量", "en": "Battery"},
    "battery_low": {"zh": "电量低", "en": "battery low"},
    "ok_paired": {"zh": "已添加 {name}。", "en": "{name} paired."},
    "ok_removed": {"zh": "已删除。", "en": "Removed."},
    "ok_saved": {"zh": "已保存。", "en": "Saved."},
    "ok_replaced": {"zh": "已用新设备替换 {name}。", "en": "{name} replaced."},
    "not_candidate": {
        "zh": "这个设备不是在允许配对期间发现的：请先点“允许配对”，再触发设备。",
        "en": "This device was not heard while permit join was open: permit join, "
        "then trigger the device.",
    },
    "bad_kind": {"zh": "请选择设备种类。", "en": "Choose what kind of device it is."},
    "choose_kind": {"zh": "请选择种类", "en": "Choose a kind"},
    "bad_text": {
        "zh": "名称和房间最多 40 个字，不能有特殊控制字符。",
        "en": "Name and room: at most 40 characters, no control characters.",
    },
    "no_device": {"zh": "没有这个设备。", "en": "There is no such device."},
    "bad_radar_max_m": {
        "zh": "最远距离请填 1.5 到 6 米。",
        "en": "Farthest distance: give 1.5 to 6 metres.",
    },
    "bad_radar_threshold": {
        "zh": "门限请填 0 到 100 的整数。",
        "en": "Thresholds: give a whole number from 0 to 100.",
    },
    "radar_not_settable": {
        "zh": "这个雷达不能从网页设置（只有 LD2410 可以）。",
        "en": "This radar cannot be set from the page (only an LD2410 can).",
    },
    "radar_offline": {
        "zh": "雷达的串口没有打开：检查连线和供电后再试。",
        "en": "The radar's serial port is not open: check its cable and power, then try again.",
    },
    "ok_radar_sent": {
        "zh": "已发给雷达；它读回的设置显示在卡片上。",
        "en": "Sent to the radar; the settings it reads back show on its card.",
    },
    "kind_door": {"zh": "门磁", "en": "door"},
    "kind_motion": {"zh": "人体感应", "en": "motion"},
    "kind_smoke": {"zh": "烟感", "en": "smoke"},
    "kind_gas": {"zh": "燃气", "en": "gas"},
    "kind_co": {"zh": "一氧化碳", "en": "carbon monoxide"},
    "kind_water": {"zh": "水浸", "en": "water"},
    "kind_button": {"zh": "紧急按钮", "en": "panic button"},
    "kind_wearable": {"zh": "手环/胸牌", "en": "wearable"},
    "kind_sensor": {"zh": "其他传感器", "en": "other sensor"},
    "kind_radar": {"zh": "毫米波雷达", "en": "mmWave radar"},
    "kind_fall": {"zh": "跌倒雷达", "en": "fall radar"},
    "kind_switch": {"zh": "开关类（门磁/按钮）", "en": "switch (door, button)"},
    "kind_presence": {"zh": "蓝牙信标", "en": "BLE beacon"},
    "kind_heart_rate": {"zh": "心率带", "en": "heart-rate strap"},
    # walk test
    "walk_intro": {
        "zh": "逐个触发每个设备，列表会自动打勾。最后发送一次测试报警并提交报告。",
        "en": "Trigger each device in turn; the list ticks itself. Then send a test alarm "
        "and submit the report.",
    },
    "walk_start": {"zh": "开始巡检", "en": "Start the walk test"},
    "walk_progress": {"zh": "已确认 {done} / {total}", "en": "{done} of {total} confirmed"},
    "waiting": {"zh": "等待触发", "en": "waiting"},
    "ticked": {"zh": "正常", "en": "OK"},
    "test_alarm": {"zh": "发送测试报警", "en": "Send a test alarm"},
    "test_alarm_state": {"zh": "测试报警：{state}", "en": "Test alarm: {state}"},
    "walk_finish": {"zh": "提交巡检报告", "en": "Submit the report"},
    "walk_none": {"zh": "没有进行中的巡检。", "en": "No walk test running."},
    "walk_last": {"zh": "上次巡检报告", "en": "Last walk test"},
    "walk_missing": {"zh": "没有响应的设备：", "en": "Devices that did not answer:"},
    "walk_saved": {
        "zh": "巡检报告已保存并发送（第 {seq} 号事件）：{done} / {total} 个设备正常。",
        "en": "Report stored and sent (event {seq}): {done} of {total} devices OK.",
    },
    "walk_not_started": {"zh": "请先开始巡检。", "en": "Start the walk test first."},
    "walk_mode": {
        "zh": "巡检模式：清单上的设备触发的报警照常发送到服务中心，但标为测试。"
        "{m} 分钟内自动结束。",
        "en": "Walk-test mode: alarms from the devices on this list still go to the centre, "
        "flagged as tests. It ends by itself within {m} min.",
    },
    "walk_timed_out": {
        "zh": "巡检超时，已自动结束；报警已恢复正常。",
        "en": "The walk test ran out of time and ended by itself; alarms are real again.",
    },
    "kind_hub_sos": {"zh": "主机红色求助按钮", "en": "hub's red SOS button"},
    "kind_hub_ok": {"zh": "主机绿色平安按钮", "en": "hub's green OK button"},
    "alarm_raised": {"zh": "已发出", "en": "raised"},
    "alarm_committed": {"zh": "已保存", "en": "stored"},
    "alarm_sent": {"zh": "已送到服务器", "en": "at the server"},
    "alarm_acknowledged": {"zh": "服务中心已收到", "en": "received by the centre"},
    "alarm_dispatched": {"zh": "救援人员已出发", "en": "help on the way"},
    "alarm_closed": {"zh": "已处理完毕", "en": "closed"},
    "alarm_cancelled": {"zh": "已取消", "en": "cancelled"},
    # survey
    "survey_intro": {
        "zh": "在安装位置测量信号。结果差时请按建议调整后点“重新测量”。",
        "en": "Signal where the hub stands. Where a result is poor, follow the advice "
        "and measure again.",
    },
    "measure": {"zh": "重新测量", "en": "Measure again"},
    "wifi": {"zh": "无线网络 (Wi-Fi)", "en": "Wi-Fi"},
    "broker": {"zh": "服务中心连接往返时间", "en": "Round trip to the centre's server"},
    "cell": {"zh": "手机信号 (4G 模块)", "en": "Cellular (modem)"},
    "ble": {"zh": "蓝牙设备信号", "en": "Bluetooth devices"},
    "good": {"zh": "良好", "en": "good"},
    "poor": {"zh": "差", "en": "poor"},
    "unknown": {"zh": "无读数", "en": "no reading"},
    "no_wifi": {"zh": "没有无线网卡读数（可能用有线网络）", "en": "no Wi-Fi reading (wired?)"},
    "no_modem": {"zh": "没有安装 4G 模块", "en": "no modem fitted"},
    "no_broker": {"zh": "连不上服务器", "en": "cannot reach the server"},
    "no_ble": {"zh": "还没有收到信号", "en": "not heard yet"},
    "advice_wifi": {
        "zh": "把主机移近路由器，或加一个无线中继；避开金属柜和微波炉。",
        "en": "Move the hub closer to the router or add a repeater; keep it away from "
        "metal cabinets and microwaves.",
    },
    "advice_broker": {
        "zh": "检查宽带是否正常、路由器能否上网；报警会改走 4G 短信/电话。",
        "en": "Check the broadband and that the router reaches the internet; alarms fall "
        "back to SMS and calls over the modem.",
    },
    "advice_cell": {
        "zh": "把主机或 4G 天线移到窗边，远离墙角；必要时换用外接天线。",
        "en": "Move the hub or its antenna to a window, away from corners; fit an "
        "external antenna if needed.",
    },
    "advice_ble": {
        "zh": "把设备或主机挪近一些，中间少隔墙和门。",
        "en": "Bring the device and the hub closer, with fewer walls and doors between.",
    },
    "advice_good": {"zh": "无需调整。", "en": "Nothing to do."},
    # family
    "family_title": {"zh": "家人平安", "en": "How things are at home"},
    "last_sign": {"zh": "最近一次活动", "en": "Last sign of life"},
    "weekly_title": {"zh": "周报", "en": "Her week (in Mandarin)"},
    "ago": {"zh": "{t}前", "en": "{t} ago"},
    "minutes": {"zh": "{n} 分钟", "en": "{n} min"},
    "hours": {"zh": "{n} 小时", "en": "{n} h"},
    "days": {"zh": "{n} 天", "en": "{n} days"},
    "just_now": {"zh": "刚刚", "en": "just now"},
    "alerts": {"zh": "报警", "en": "Alerts"},
    "no_alerts": {"zh": "没有未处理的报警。", "en": "No open alerts."},
    "hub_link": {"zh": "主机与服务中心", "en": "Hub and centre"},
    "connected": {"zh": "已连接", "en": "connected"},
    "disconnected": {"zh": "未连接", "en": "not connected"},
    "devices_title": {"zh": "设备", "en": "Devices"},
    "all_well": {"zh": "{n} 个设备都正常。", "en": "All {n} devices are fine."},
    "some_trouble": {"zh": "{n} 个设备需要处理：", "en": "{n} devices need attention:"},
    "test": {"zh": "测试", "en": "test"},
    "alarm_kind_sos": {"zh": "紧急求助", "en": "SOS"},
    "alarm_kind_smoke": {"zh": "烟雾报警", "en": "smoke"},
    "alarm_kind_gas": {"zh": "燃气报警", "en": "gas"},
    "alarm_kind_co": {"zh": "一氧化碳报警", "en": "carbon monoxide"},
    "alarm_kind_water": {"zh": "漏水报警", "en": "water"},
    "alarm_kind_fall": {"zh": "跌倒", "en": "fall"},
    "alarm_kind_inactivity": {"zh": "长时间没有活动", "en": "no activity"},
    "alarm_kind_survival_overdue": {"zh": "超时未报平安", "en": "no sign of life"},
    "alarm_kind_night_exit": {"zh": "夜间外出未归", "en": "left at night"},
    "live_lost": {"zh": "连接中断，正在重连…", "en": "Connection lost, reconnecting…"},
}


def t(lang: str, key: str, **values: object) -> str:
    """The text for `key` in `lang` (Mandarin when unknown), with {values} filled in."""
    texts = TEXT[key]
    text = texts.get(lang, texts["zh"])
    return text.format(**values) if values else text


__all__ = ["LANGS", "TEXT", "t"]
