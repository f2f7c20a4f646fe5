"""Test-speech corpus: flite voices, speeds, pitch, room echo and noise, 16 kHz s16le.

Two sets, so thresholds are not tuned on the figure they are judged by:
- TRAINING: voices slt, awb, rms at speeds 1.0 and 1.25 with white noise at 20 dB SNR;
- HELD_OUT: other voices (kal, kal16, and slt/rms/awb shifted in pitch), other speeds
  (0.85, 1.5), louder white noise (10 dB), pink noise (a television or fan) and room echo.
`build()` is the issue's original 16 help / 16 ordinary set (slt, awb, rms, kal).
"""

from __future__ import annotations

import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HELP_PHRASES = ("help", "help me", "somebody help", "please help me")
OTHER_PHRASES = ("hello", "what time is it", "turn on the light", "good morning")
# More calls for help, and ordinary talk including near-misses that sound like "help"
# or even contain it without being a call for help.
MORE_HELP_PHRASES = ("i need help", "help help", "somebody help me")
MORE_OTHER_PHRASES = (
    "helmet",
    "yellow",
    "help yourself to tea",
    "can i help you",
    "health",
    "tell me a story",
    "where is my phone",
    "i am fine thank you",
    "the kettle is boiling",
    "hold the door",
    "shelf",
    "well done",
)
VOICES = ("slt", "awb", "rms", "kal")
SPEEDS = (1.0, 1.25)  # flite duration_stretch: 1.0 normal, 1.25 slower
SNR_DB = 20.0  # white noise at a fixed SNR, a quiet living room with a TV off


@dataclass(frozen=True)
class Condition:
    """How a phrase is rendered: flite voice, pace, pitch shift, echo, noise."""

    voice: str
    speed: float = 1.0
    pitch_cents: int = 0  # sox pitch shift; negative is lower (an older voice)
    reverb: bool = False  # sox reverb: a tiled kitchen or bathroom
    noise: str = "white"  # "white" or "pink" (a television, a fan)
    snr_db: float = SNR_DB

    @property
    def label(self) -> str:
        """Short name for tables: voice, speed and what was added."""
        parts = [self.voice, f"x{self.speed:g}"]
        if self.pitch_cents:
            parts.append(f"pitch{self.pitch_cents:+d}")
        if self.reverb:
            parts.append("echo")
        parts.append(f"{self.noise}{self.snr_db:g}dB")
        return " ".join(parts)


TRAINING = tuple(Condition(v, s) for v in ("slt", "awb", "rms") for s in (1.0, 1.25))
HELD_OUT = (
    Condition("kal", 1.0, noise="white", snr_db=10.0),
    Condition("kal", 1.5, noise="pink", snr_db=15.0),
    Condition("kal16", 0.85, noise="white", snr_db=20.0),
    Condition("kal16", 1.0, reverb=True, noise="pink", snr_db=15.0),
    Condition("slt", 0.85, pitch_cents=-400, noise="pink", snr_db=15.0),
    Condition("slt", 1.5, pitch_cents=-200, reverb=True, noise="white", snr_db=20.0),
    Condition("rms", 0.85, pitch_cents=-300, noise="white", snr_db=10.0),
    Condition("awb", 1.5, pitch_cents=300, noise="pink", snr_db=15.0),
)


@dataclass(frozen=True)
class Utterance:
    """One rendered phrase: raw 16 kHz mono int16 little-endian audio."""

    phrase: str
    voice: str
    speed: float
    is_help: bool
    pcm: bytes
    condition: str = ""


def render(
    phrase: str,
    voice: str,
    speed: float,
    workdir: Path,
    *,
    condition: Condition | None = None,
) -> bytes:
    """Render one phrase with flite, shape it and add noise with sox/numpy; return raw PCM."""
    cond = condition or Condition(voice, speed)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{voice}_{speed}_{cond.pitch_cents}_{int(cond.reverb)}_{phrase.replace(' ', '_')}"
    wav, raw = workdir / f"{stem}.wav", workdir / f"{stem}.raw"
    if not raw.exists():
        subprocess.run(
            [
                *("flite", "-voice", voice, "--setf", f"duration_stretch={speed}"),
                *("-t", phrase, "-o", str(wav)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        effects = ["pad", "0.5", "0.5"]
        if cond.pitch_cents:
            effects += ["pitch", str(cond.pitch_cents)]
        if cond.reverb:
            effects += ["reverb", "40", "50", "60"]
        to_raw(wav, raw, effects)
    seed = len(stem) if condition is None else zlib.crc32(f"{stem}/{cond.noise}".encode())
    return add_noise(raw.read_bytes(), cond.snr_db, seed=seed, colour=cond.noise)


def to_raw(wav: Path, raw: Path, effects: list[str]) -> None:
    """Convert a rendered wav to raw 16 kHz mono s16le through sox `effects`."""
    subprocess.run(
        [
            *("sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"),
            *("-t", "raw", str(raw), *effects),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def add_noise(pcm: bytes, snr_db: float, seed: int, colour: str = "white") -> bytes:
    """Mix in white or pink noise at a fixed signal-to-noise ratio (deterministic per seed)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    noise = np.random.default_rng(seed).standard_normal(x.size)
    if colour == "pink" and x.size > 1:  # 1/f power: scale the spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(noise)
        f = np.arange(spectrum.size, dtype=np.float64)
        f[0] = 1.0
        noise = np.fft.irfft(spectrum / np.sqrt(f), n=x.size)
        noise /= float(np.std(noise)) or 1.0
    noise *= np.sqrt(power / (10 ** (snr_db / 10)))
    return np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()


def build(workdir: Path) -> list[Utterance]:
    """The issue's set: 16 help and 16 other utterances across four flite voices."""
    out: list[Utterance] = []
    for i, voice in enumerate(VOICES):
        for j, phrase in enumerate(HELP_PHRASES + OTHER_PHRASES):
            speed = SPEEDS[(i + j) % 2]
            pcm = render(phrase, voice, speed, workdir)
            label = Condition(voice, speed).label
            out.append(Utterance(phrase, voice, speed, phrase in HELP_PHRASES, pcm, label))
    return out


def build_set(conditions: tuple[Condition, ...], workdir: Path) -> list[Utterance]:
    """Every help and ordinary phrase (the larger lists) under each condition."""
    helps = HELP_PHRASES + MORE_HELP_PHRASES
    out: list[Utterance] = []
    for cond in conditions:
        for phrase in helps + OTHER_PHRASES + MORE_OTHER_PHRASES:
            pcm = render(phrase, cond.voice, cond.speed, workdir, condition=cond)
            out.append(Utterance(phrase, cond.voice, cond.speed, phrase in helps, pcm, cond.label))
    return out


# Issue 19: an elder who has fallen says so rather than "help".
FALL_PHRASES = (
    "i've fallen",
    "i fell",
    "i have fallen",
    "i fell down",
    "help i've fallen",
    "i've fallen and i can't get up",
)
# Every English call for help the bench reports, one row each.
EN_HELP_PHRASES = (*HELP_PHRASES, *MORE_HELP_PHRASES, *FALL_PHRASES)
# Near-misses: words that sound like "help" or "fell", and sentences that use them without
# calling for help. An outside evaluator found most false alarms here.
EN_NEAR_MISSES = (
    "help yourself",
    "help yourself to tea",
    "helpful",
    "a helpful neighbour",
    "held",
    "health",
    "healthy food",
    "helmet",
    "hello",
    "yellow",
    "shelf",
    "well done",
    "can i help you",
    "let me help you with that",
    "she helps me cook",
    "help desk",
    "i fell asleep",
    "the leaves have fallen",
    "prices have fallen",
    "he fell in love",
    "i feel fine",
    "fill the kettle",
)
# Ordinary talk, used in training and in the bench.
EN_TALK = (
    "what time is it",
    "turn on the light",
    "good morning",
    "tell me a story",
    "where is my phone",
    "i am fine thank you",
    "the kettle is boiling",
    "hold the door",
    "i am going to bed",
    "where are my glasses",
    "the phone is ringing",
    "what is for dinner",
    "hello mother",
    "thank you",
    "open the window",
    "the weather is nice",
    "my son is coming",
    "turn off the television",
    "i took my medicine",
    "see you tomorrow",
    "the tea is hot",
    "i will call you back",
    "good night",
    "welcome home",
)
# Ordinary talk never used in training: the bench's false alarms on talk it never heard.
EN_UNSEEN_TALK = (
    "could you pass the salt",
    "the bus was late again",
    "i watered the plants this morning",
    "my daughter called yesterday",
    "let's have soup for lunch",
    "the doctor said i am doing well",
    "have you seen the cat",
    "it is raining outside",
    "i need to buy some bread",
    "the news is on at six",
    "put the kettle on please",
    "my knees hurt when it is cold",
    "we played cards all afternoon",
    "the postman has been",
    "i can't find the remote",
    "that film was very long",
)

# Mandarin (issue 19). The keyword list is configuration ([voice] zh_phrases); this is its
# default and what the bench reports, one row each, with three longer calls.
ZH_HELP_PHRASES = ("救命", "救命啊", "帮帮我", "来人啊", "快来人", "我摔倒了")
ZH_HELP_TEST = (*ZH_HELP_PHRASES, "快来人啊", "救命啊，快来人", "谁来帮帮我")
# Near-misses: the same syllables or most of them, not a call for help. The last three
# contain a keyword in other words (a drama, an idiom, a third person): a keyword detector
# calls on them, and the bench reports them apart.
ZH_NEAR_MISSES = (
    "帮我拿一下杯子",
    "帮忙看一下",
    "他在帮邻居搬家",
    "救护车已经到了",
    "生命在于运动",
    "这是命令",
    "明天见",
    "来人了吗",
    "快来吃饭",
    "快来看电视",
    "我摔了一个碗",
    "杯子倒了",
    "我倒了一杯水",
    "帮帮忙吧",
    "旧的毛衣",
    "最后一根救命稻草",
    "他摔倒了吗",
    "谁来了",
)
ZH_KEYWORD_NEAR_MISSES = ("最后一根救命稻草", "他摔倒了吗")
# Television-like Mandarin speech (news, weather, adverts, drama, daily talk): the stream
# false alarms per hour are counted on.
ZH_TALK = (
    "今天的天气真不错，我们出去走走吧",
    "各位观众晚上好，欢迎收看新闻联播",
    "明天白天多云转晴，最高气温二十八度",
    "本台记者报道，今年粮食产量再创新高",
    "这款洗衣粉去污能力特别强",
    "现在购买还送精美礼品一份",
    "你吃饭了吗",
    "我下午要去医院拿药",
    "孙子下个星期回来看我",
    "这个菜有点咸了",
    "电视声音太大了，关小一点",
    "你把遥控器放哪里了",
    "楼下的超市今天打折",
    "我每天早上都去公园散步",
    "他说明天要下雨",
    "这件衣服多少钱",
    "你慢慢说，我听着呢",
    "医生说我的血压正常",
    "别忘了带钥匙",
    "广州今天有雷阵雨，出门请带伞",
    "福建沿海地区将有大风",
    "接下来请看体育新闻",
    "这场比赛非常精彩",
    "他们两个人终于结婚了",
    "妈妈，我今天不回家吃饭了",
    "你怎么现在才回来",
    "我们明天一起去买菜吧",
    "这首歌我年轻的时候经常听",
    "请大家注意防范电信诈骗",
    "社区医生下午来量血压",
    "老张家的狗又跑出来了",
    "今年的春节联欢晚会很好看",
    "高速公路上车很多",
    "这个节目每天晚上七点播出",
    "你要喝茶还是喝水",
    "水烧开了",
    "我的眼镜找不到了",
    "今天是星期几",
    "明天早上八点开会",
    "他已经退休好几年了",
    "这里的房价又涨了",
    "小心地滑",
    "请把门关好",
    "我想睡一会儿",
    "外面在下雨",
    "饭做好了，快来吃吧",
    "这个药一天吃三次",
    "你看这个电视剧吗",
    "主人公最后回到了家乡",
    "感谢您的收看，我们明天再见",
)
# More television (issue 19): news, weather, drama, health and cooking programmes, adverts,
# opera and cartoons, so that hours of the stream are not the same 50 sentences over and
# over. A health programme talks about falls and a drama about rescue: some lines use a
# keyword's syllables in other words (摔倒, 救, 帮, 来人) without being a call.
ZH_TV_MORE = (
    "下面播报一则寒潮预警",
    "今天夜间到明天，全省大部分地区有小到中雨",
    "受台风影响，部分航班取消",
    "市民朋友们请注意，地铁三号线临时停运",
    "据统计，上半年全市接待游客超过三千万人次",
    "国务院召开常务会议，研究部署下一阶段工作",
    "股市今天小幅上涨，成交量有所放大",
    "本次列车开往深圳，请旅客朋友们带好随身物品",
    "明天凌晨将出现大雾天气，请注意交通安全",
    "这位老人八十岁了，每天坚持写毛笔字",
    "一起来看看这个小区的变化",
    "新的公交线路下个月开通",
    "老年人摔倒以后，不要急着自己爬起来",
    "冬天路滑，老人出门要特别小心，防止摔倒",
    "高血压患者要少吃盐，多吃蔬菜",
    "每天走路六千步，对身体很有好处",
    "专家提醒，感冒了要多喝水，多休息",
    "今天教大家做一道红烧肉",
    "先把五花肉切成小块，放进锅里焯一下水",
    "加两勺生抽，一勺老抽，小火慢炖四十分钟",
    "这道菜的关键是火候",
    "各位街坊，今天我们来讲讲怎样煲汤",
    "买一送一，数量有限，欲购从速",
    "这款床垫，让您一觉睡到大天亮",
    "拨打屏幕下方的电话，马上订购",
    "本节目由某某保健品冠名播出",
    "护肤就用这一瓶，全家都能用",
    "你给我站住，把话说清楚",
    "我早就知道是你干的",
    "这件事你别管了，我自己来处理",
    "对不起，我不是故意的",
    "你走吧，我再也不想见到你",
    "爸，您的身体要紧，别再操心了",
    "少爷回来了，快去告诉老爷",
    "这一次，我一定不会让你失望",
    "医生，他怎么样了",
    "手术很成功，病人已经脱离危险了",
    "是他把我从河里救了上来",
    "谢谢你那天帮了我大忙",
    "来人，把他带下去",
    "师父，徒儿知错了",
    "皇上驾到",
    "江湖上的事，你不懂",
    "这把剑跟了我二十年",
    "小猪佩奇和她的弟弟乔治去公园玩",
    "喜羊羊，快跑，灰太狼来了",
    "小朋友们，我们下次再见",
    "下面有请我们的嘉宾上台",
    "掌声送给他们",
    "恭喜你答对了，获得一千元奖金",
    "第三题，请听题",
    "观众朋友们，广告之后马上回来",
    "这一段唱得真好，有味道",
    "粤剧是岭南文化的瑰宝",
    "下面请欣赏一段闽南语歌曲",
    "红队领先两分，比赛还剩最后五分钟",
    "这个球打得太漂亮了",
    "中国队获得了女子排球比赛的冠军",
    "今天的节目就到这里，感谢收看",
    "欢迎收看今日说法",
    "警方提醒，陌生电话让你转账的，一律是诈骗",
    "社区组织志愿者帮老人打扫卫生",
    "消防员用了两个小时才把大火扑灭",
    "一辆货车在高速上侧翻，所幸没有人员伤亡",
    "今年的荔枝比去年早熟半个月",
    "茶农们正在忙着采摘春茶",
    "潮汕牛肉火锅吸引了很多外地游客",
    "厦门鼓浪屿迎来了旅游高峰",
    "海上风力七到八级，渔船请回港避风",
    "今天农历初八，宜出行",
    "外婆家的院子里种满了花",
    "这个时候，他想起了自己的母亲",
    "那一年，我们都还很年轻",
    "故事要从三十年前说起",
    "村里修了新路，孩子们上学方便多了",
    "你听我说，这件事没有那么简单",
    "快点快点，车要开了",
    "大家一起来跳广场舞",
    "音乐响起来，我们跟着节奏动起来",
    "请把手举高，再慢慢放下",
    "深呼吸，放松肩膀",
    "这套太极拳适合老年人练习",
    "养老金今年又提高了",
    "医保卡可以在手机上查询余额",
    "身份证到期了要及时换领",
    "今天的菜价比昨天便宜一点",
    "猪肉每斤二十二块",
    "明天是重阳节，记得给老人打个电话",
    "一家人团团圆圆，比什么都重要",
    "愿您身体健康，万事如意",
)
